"""Mermaid ``stateDiagram-v2`` for one machine table (issue 2, "Renderers to Mermaid").

The diagram is read straight off the :class:`~spec.machine.MachineSpec` tables, so a changed
transition changes the drawing with no other edit. Layout choices:

* one edge per (source, trigger), labelled with the trigger, in table order, so the output is
  byte-identical for the same spec;
* reflexive (``SAME``) transitions become self-loops on each of their sources;
* each state shows its name as the title of its box and its description under it;
* ``[*]`` enters the initial state and leaves every ``TERMINAL`` state.
"""

from __future__ import annotations

from spec.machine import MachineSpec, StateRole
from spec.render.mermaid_text import STATE_UNSAFE, escape_text, safe_id

INDENT = "    "
QUOTE = frozenset('"')


def state_ids(machine: MachineSpec) -> dict[str, str]:
    """The Mermaid id of each state (the state name itself unless Mermaid would choke on it)."""
    taken: set[str] = set()
    return {s.name: safe_id(s.name, taken) for s in machine.states}


def render_state(machine: MachineSpec) -> str:
    """The machine as a ``stateDiagram-v2``, ending with a newline."""
    ids = state_ids(machine)
    lines = ["stateDiagram-v2", f"{INDENT}[*] --> {ids[machine.initial]}"]
    for state in machine.states:
        sid = ids[state.name]
        # Declared with its name, then described: Mermaid draws the name as the box's title and
        # the description under it. A bare ``id : description`` would replace the name.
        lines.append(f'{INDENT}state "{escape_text(state.name, STATE_UNSAFE | QUOTE)}" as {sid}')
        lines.append(f"{INDENT}{sid} : {escape_text(state.description, STATE_UNSAFE)}")
    for row in machine.transitions:
        label = escape_text(row.trigger, STATE_UNSAFE)
        for source in row.source:
            dest = row.destination_from(source)
            lines.append(f"{INDENT}{ids[source]} --> {ids[dest]} : {label}")
    for state in machine.states:
        if state.role is StateRole.TERMINAL:
            lines.append(f"{INDENT}{ids[state.name]} --> [*]")
    return "\n".join(lines) + "\n"
