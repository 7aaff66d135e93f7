"""stateDiagram-v2 rendering of the machine tables."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.machines import MACHINES
from spec.render import render_state
from spec.render.mermaid_text import unescape_text
from spec.render.state import BACK, FAN_IN, STAYS, fan_in_note, state_ids, transition_edges

#: Line breaks as Python and JavaScript know them; the renderer flattens each to one space.
LINE_BREAK = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
StateChecker = Callable[[str], list[tuple[str, str, str]]]


@pytest.mark.parametrize("name", list(MACHINES))
def test_every_machine_renders_deterministically(name: str, state_checker: StateChecker) -> None:
    machine = MACHINES[name]
    first = render_state(machine)
    assert first == render_state(machine)
    state_checker(first)


def drawn_rows(machine: MachineSpec, text: str, state_checker: StateChecker) -> list[tuple[str, str, str]]:
    """Every (source, dest, trigger) the diagram shows: on edges, in boxes, or in fan-in notes."""
    ids = state_ids(machine)
    by_id = {sid: name for name, sid in ids.items()}
    rows = [(by_id[s], by_id[d], t) for s, d, t in state_checker(text) if t]
    for line in text.splitlines():
        sid, _, shown = line.strip().partition(" : ")
        shown = unescape_text(shown)
        if sid in by_id and shown.startswith(STAYS + " "):
            rows.extend((by_id[sid], by_id[sid], t) for t in shown[2:].split(", "))
        elif sid in by_id and f" {BACK} " in shown:
            triggers, dest = shown.split(f" {BACK} ")
            rows.extend((by_id[sid], dest, t) for t in triggers.split(", "))
    for fan in transition_edges(machine)[1]:
        assert f"note left of {ids[fan.dest]} : {fan_in_note(fan, machine)}" in unescape_text(text)
        rows.extend((source, fan.dest, fan.trigger) for source in fan.sources)
    return rows


@pytest.mark.parametrize("name", list(MACHINES))
def test_every_transition_row_is_shown_exactly_once(name: str, state_checker: StateChecker) -> None:
    machine = MACHINES[name]
    expected = sorted({(s, row.destination_from(s), row.trigger) for row in machine.transitions for s in row.source})
    shown = drawn_rows(machine, render_state(machine), state_checker)
    assert sorted(shown) == expected


@pytest.mark.parametrize("name", list(MACHINES))
def test_at_most_one_edge_per_pair_and_no_self_loops(name: str, state_checker: StateChecker) -> None:
    """Labels of parallel edges and self-loops overlap when dagre lays them out (issue: YesNo)."""
    machine = MACHINES[name]
    pairs = [(s, d) for s, d, _ in state_checker(render_state(machine))]
    drawn = list(dict.fromkeys(pairs))
    assert all(s != d for s, d in drawn)
    labelled = [(s, d) for s, d, t in state_checker(render_state(machine)) if t]
    for s, d in drawn:  # a pair joined both ways carries one label only
        assert not ((s, d) in labelled and (d, s) in labelled)


def test_a_trigger_from_many_states_is_one_note() -> None:
    startup = MACHINES["orchestrator_startup"]
    text = render_state(startup)
    fans = {f.trigger: f for f in transition_edges(startup)[1]}
    assert "startup_timed_out" in fans and len(fans["startup_timed_out"].sources) >= FAN_IN
    assert not [line for line in text.splitlines() if " --> " in line and "startup_timed_out" in line]
    assert text.count("note left of failed : startup_timed_out from ") == 1


@pytest.mark.parametrize("name", list(MACHINES))
def test_initial_terminal_and_descriptions(name: str) -> None:
    machine = MACHINES[name]
    text = render_state(machine)
    lines = text.splitlines()
    assert lines[1] == f"    [*] --> {machine.initial}"
    for state in machine.states:
        declared = lines.index(f'    state "{state.name}" as {state.name}')  # the name is the box's title
        assert lines[declared + 1].startswith(f"    {state.name} : ")  # the description goes under it
        description_line = next(line for line in lines if line.startswith(f"    {state.name} : "))
        assert unescape_text(description_line.split(" : ", 1)[1]) == state.description
        leaves = f"    {state.name} --> [*]" in lines
        assert leaves == (state.role is StateRole.TERMINAL)


def test_reflexive_transitions_are_listed_in_their_box() -> None:
    breaker = MACHINES["circuit_breaker"]
    lines = render_state(breaker).splitlines()
    reflexive = [t for t in breaker.transitions if t.dest == SAME]
    assert reflexive, "the circuit breaker has reflexive transitions (admit, reject...)"
    for row in reflexive:
        for source in row.source:
            stays = next(line for line in lines if line.startswith(f"    {source} : {STAYS} "))
            assert row.trigger in stays.split(f"{STAYS} ", 1)[1].split(", ")
            assert f"    {source} --> {source}" not in "\n".join(lines)


def _odd_machine(description: str = "Plain.") -> MachineSpec:
    return MachineSpec(
        name="odd",
        title="Odd names",
        seed_section="test",
        description="States whose names Mermaid would choke on.",
        initial="end",
        states=(
            StateSpec("end", description),
            StateSpec("state-x", "Has a hyphen: and a colon; and a semicolon.", StateRole.RESTING),
            StateSpec("state_x", "Would collide with state-x once cleaned.", StateRole.TERMINAL),
        ),
        transitions=(
            transition("go", "end", "state-x", "To the hyphen."),
            transition("stay", "state-x", SAME, "Self loop."),
            transition("finish", "state-x", "state_x", "Done."),
        ),
    )


def test_unsafe_state_names_get_safe_unique_ids_and_keep_their_names(state_checker: StateChecker) -> None:
    machine = _odd_machine()
    ids = state_ids(machine)
    assert ids["end"] == "s_end"
    assert len(set(ids.values())) == 3
    text = render_state(machine)
    state_checker(text)
    assert '    state "end" as s_end' in text
    assert f'    state "state-x" as {ids["state-x"]}' in text
    assert f'    state "state_x" as {ids["state_x"]}' in text
    assert "    [*] --> s_end" in text
    assert f"    {ids['state-x']} : {STAYS} stay" in text
    assert "hyphen#58; and a colon#59; and a semicolon." in text


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(description=st.text(min_size=1, max_size=80).filter(lambda s: s.strip()))
def test_any_description_is_escaped_and_round_trips(description: str, state_checker: StateChecker) -> None:
    text = render_state(_odd_machine(description))
    state_checker(text)  # every label free of raw characters Mermaid chokes on
    line = next(line for line in text.split("\n") if line.startswith("    s_end : "))
    shown = line.split(" : ", 1)[1]
    assert unescape_text(shown) == " ".join(LINE_BREAK.split(description))
