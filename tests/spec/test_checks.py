"""The graph checks pass on the shipped spec and catch each kind of defect."""

from __future__ import annotations

import pytest

from spec import ServiceOrderError
from spec.checks import (
    check_participants,
    check_progress,
    check_reachability,
    check_service_order,
    check_stories,
    run_checks,
)
from spec.machine import MachineSpec, StateRole, StateSpec, transition
from spec.machines import MACHINES
from spec.messages import call
from spec.participants import ORCHESTRATOR, Participant
from spec.sequences import STORIES
from spec.services import SERVICE_DEPENDENCIES, startup_order
from spec.story import Step, Story


def _machine(*transitions_: object, states: tuple[StateSpec, ...] | None = None) -> MachineSpec:
    states = states or (
        StateSpec("a", "start", StateRole.RESTING),
        StateSpec("b", "working"),
        StateSpec("c", "done", StateRole.TERMINAL),
    )
    return MachineSpec("toy", "Toy", "0", "", states, "a", tuple(transitions_))  # type: ignore[arg-type]


def test_shipped_spec_passes_every_check() -> None:
    report = run_checks()
    assert report.ok, report.format()
    assert "0 failed" in report.format()


def test_unreachable_state_is_reported() -> None:
    result = check_reachability(_machine(transition("go", "a", "c", "")))
    assert not result.ok and "'b'" in result.problems[0]


def test_dead_end_state_is_reported_unless_trap() -> None:
    m = _machine(transition("go", "a", "b", ""))
    assert not check_progress(m).ok
    trap_states = (StateSpec("a", "", StateRole.RESTING), StateSpec("b", "", StateRole.TRAP),
                   StateSpec("c", "", StateRole.TERMINAL))
    assert check_progress(_machine(transition("go", "a", "b", ""), transition("end", "a", "c", ""),
                                   states=trap_states)).ok


def test_terminal_state_with_exit_is_reported() -> None:
    m = _machine(transition("go", "a", "b", ""), transition("end", "b", "c", ""), transition("again", "c", "a", ""))
    result = check_progress(m)
    assert not result.ok and "terminal state 'c'" in result.problems[0]


def test_undeclared_participant_is_reported() -> None:
    ghost = Participant("ghost", "Ghost")
    m = _machine(transition("go", "a", "b", "", call(ORCHESTRATOR, ghost, "boo()")), transition("end", "b", "c", ""))
    result = check_participants(m)
    assert not result.ok and "ghost" in result.problems[0]


def test_service_order_matches_seed() -> None:
    assert check_service_order(MACHINES).ok


def test_dependency_cycle_is_reported_by_name() -> None:
    deps = dict(SERVICE_DEPENDENCIES)
    deps["config"] = (("healthChecker",), "bad")
    with pytest.raises(ServiceOrderError, match="cycle: .*config"):
        startup_order(deps)


def test_ambiguous_order_is_reported() -> None:
    deps = {"a": ((), ""), "b": ((), "")}
    with pytest.raises(ServiceOrderError, match="ambiguous"):
        startup_order(deps)


def test_undeclared_dependency_is_reported() -> None:
    with pytest.raises(ServiceOrderError, match="undeclared service 'cache'"):
        startup_order({"a": (("cache",), "")})


def test_story_with_illegal_step_is_reported() -> None:
    bad = Story("bad", "Bad", "0", "", ("task_lifecycle",), (Step("task_lifecycle", "complete"),))
    result = check_stories({"bad": bad, **STORIES}, MACHINES)
    assert not result.ok
    assert "story 'bad'" in result.problems[0] and "'complete'" in result.problems[0]


def test_report_lists_transitions_only_in_state_diagrams() -> None:
    report = run_checks()
    assert any("only in state diagrams" in n for n in report.notes)
