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
from spec.render.state import state_ids

#: Line breaks as Python and JavaScript know them; the renderer flattens each to one space.
LINE_BREAK = re.compile("\r\n|[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
StateChecker = Callable[[str], list[tuple[str, str, str]]]


@pytest.mark.parametrize("name", list(MACHINES))
def test_every_machine_renders_deterministically(name: str, state_checker: StateChecker) -> None:
    machine = MACHINES[name]
    first = render_state(machine)
    assert first == render_state(machine)
    state_checker(first)


@pytest.mark.parametrize("name", list(MACHINES))
def test_one_edge_per_source_and_trigger_in_table_order(name: str, state_checker: StateChecker) -> None:
    machine = MACHINES[name]
    ids = state_ids(machine)
    expected = [
        (ids[source], ids[row.destination_from(source)], row.trigger)
        for row in machine.transitions
        for source in row.source
    ]
    assert state_checker(render_state(machine)) == expected


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


def test_reflexive_transitions_are_self_loops() -> None:
    breaker = MACHINES["circuit_breaker"]
    text = render_state(breaker)
    reflexive = [t for t in breaker.transitions if t.dest == SAME]
    assert reflexive, "the circuit breaker has reflexive transitions (admit, reject...)"
    for row in reflexive:
        for source in row.source:
            assert f"    {source} --> {source} : {row.trigger}" in text.splitlines()


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
    assert f"    {ids['state-x']} --> {ids['state-x']} : stay" in text
    assert "hyphen#58; and a colon#59; and a semicolon." in text


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(description=st.text(min_size=1, max_size=80).filter(lambda s: s.strip()))
def test_any_description_is_escaped_and_round_trips(description: str, state_checker: StateChecker) -> None:
    text = render_state(_odd_machine(description))
    state_checker(text)  # every label free of raw characters Mermaid chokes on
    line = next(line for line in text.split("\n") if line.startswith("    s_end : "))
    shown = line.split(" : ", 1)[1]
    assert unescape_text(shown) == " ".join(LINE_BREAK.split(description))
