"""Mermaid ``stateDiagram-v2`` for one machine table (seed 4.1-4.5: the state machines).

The diagram is read straight off the :class:`~spec.machine.MachineSpec` tables, so a changed
transition changes the drawing with no other edit. Layout choices, each made so that the
diagram stays legible at its natural size (dagre draws every edge label it is given, and
labels of edges between the same two states land on top of each other):

* one edge per (source, destination) pair, in table order, labelled with every trigger that
  takes it, one per line, so that ``fail`` and ``time_out`` from ``running`` to ``failed``
  do not draw two labels in the same gap;
* reflexive (``SAME``) transitions are written inside their state's box (``↻ heartbeat,
  health_reported``) rather than drawn as self-loops: a loop's label sits where dagre routes
  the state's other edges, and hid ``tasks_still_running`` in the shutdown machine;
* of two edges that join the same two states in opposite directions (``fail_retryable`` and
  ``retry`` between ``attempting`` and ``backing_off``), the later one in the table is drawn
  unlabelled and its triggers written in its source's box (``retry → attempting``): dagre
  puts both labels in the same gap, side by side, whatever the spacing;
* a trigger that leads from :data:`FAN_IN` or more states into the same state (the
  ``startup_timed_out`` of every start-up phase, the ``force_stop`` of every shutdown phase)
  is drawn once, as a note on its destination naming the states it leaves, instead of a fan
  of crossing edges; the transition tables on the pages still list every row;
* each state shows its name as the title of its box and its description under it;
* ``[*]`` enters the initial state and leaves every ``TERMINAL`` state.

The output is byte-identical for the same spec.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from spec.machine import MachineSpec, StateRole
from spec.render.mermaid_text import STATE_UNSAFE, escape_text, safe_id

INDENT = "    "
QUOTE = frozenset('"')
#: Line break inside a Mermaid label (the source stays one statement per line).
LABEL_BREAK = "<br/>"
#: A trigger entering one state from at least this many states is drawn as a note, not edges.
FAN_IN = 4


@dataclass(frozen=True)
class Edge:
    """One drawn arrow: every trigger that leads from `source` to `dest`, in table order."""

    source: str
    dest: str
    triggers: tuple[str, ...]


#: Marks the line of a state's box that lists the triggers that leave it where it is.
STAYS = "↻"
#: Marks a box line naming a trigger whose (unlabelled) edge goes back to the state named.
BACK = "→"


@dataclass(frozen=True)
class FanIn:
    """One trigger that leads from many `sources` into `dest`, drawn as a note on `dest`."""

    trigger: str
    dest: str
    sources: tuple[str, ...]


def state_ids(machine: MachineSpec) -> dict[str, str]:
    """The Mermaid id of each state (the state name itself unless Mermaid would choke on it)."""
    taken: set[str] = set()
    return {s.name: safe_id(s.name, taken) for s in machine.states}


def transition_edges(machine: MachineSpec, fan_in: int = FAN_IN) -> tuple[list[Edge], list[FanIn]]:
    """The machine's (source, destination, trigger) rows grouped as drawn: edges and fan-ins."""
    rows = [(s, row.destination_from(s), row.trigger) for row in machine.transitions for s in row.source]
    sources: dict[tuple[str, str], list[str]] = {}
    for source, dest, trigger in rows:
        sources.setdefault((dest, trigger), [])
        if source not in sources[(dest, trigger)]:
            sources[(dest, trigger)].append(source)
    fans = [FanIn(trigger, dest, tuple(found)) for (dest, trigger), found in sources.items() if len(found) >= fan_in]
    fanned = {(f.dest, f.trigger) for f in fans}
    grouped: dict[tuple[str, str], list[str]] = {}
    for source, dest, trigger in rows:
        if (dest, trigger) in fanned:
            continue
        triggers = grouped.setdefault((source, dest), [])
        if trigger not in triggers:
            triggers.append(trigger)
    edges = [Edge(source, dest, tuple(triggers)) for (source, dest), triggers in grouped.items()]
    return edges, fans


def box_lines(edges: Sequence[Edge]) -> tuple[list[Edge], dict[str, list[str]]]:
    """`edges` as drawn (no self-loops, back edges unlabelled), and the extra lines of each box."""
    lines: dict[str, list[str]] = {}
    drawn: list[Edge] = []
    pairs = {(e.source, e.dest) for e in edges}
    seen: set[tuple[str, str]] = set()
    for edge in edges:
        if edge.source == edge.dest:
            lines.setdefault(edge.source, []).insert(0, f"{STAYS} {', '.join(edge.triggers)}")
            continue
        if (edge.dest, edge.source) in pairs and (edge.dest, edge.source) in seen:
            lines.setdefault(edge.source, []).append(f"{', '.join(edge.triggers)} {BACK} {edge.dest}")
            drawn.append(Edge(edge.source, edge.dest, ()))
        else:
            drawn.append(edge)
        seen.add((edge.source, edge.dest))
    return drawn, lines


def fan_in_note(fan: FanIn, machine: MachineSpec) -> str:
    """``force_stop from every state but running and stopped`` (or from the states listed)."""
    others = [s.name for s in machine.states if s.name not in fan.sources and s.name != fan.dest]
    if len(others) < len(fan.sources) and len(others) <= 3:
        where = "every other state" if not others else f"every state but {_and(others)}"
    else:
        where = _and(list(fan.sources))
    return f"{fan.trigger} from {where}"


def _and(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def render_state(machine: MachineSpec, fan_in: int = FAN_IN) -> str:
    """The machine as a ``stateDiagram-v2``, ending with a newline."""
    ids = state_ids(machine)
    all_edges, fans = transition_edges(machine, fan_in)
    edges, extra = box_lines(all_edges)
    lines = ["stateDiagram-v2", f"{INDENT}[*] --> {ids[machine.initial]}"]
    for state in machine.states:
        sid = ids[state.name]
        # Declared with its name, then described: Mermaid draws the name as the box's title and
        # the description under it. A bare ``id : description`` would replace the name.
        lines.append(f'{INDENT}state "{escape_text(state.name, STATE_UNSAFE | QUOTE)}" as {sid}')
        lines.append(f"{INDENT}{sid} : {escape_text(state.description, STATE_UNSAFE)}")
        lines.extend(f"{INDENT}{sid} : {escape_text(line, STATE_UNSAFE)}" for line in extra.get(state.name, ()))
    for edge in edges:
        label = LABEL_BREAK.join(escape_text(t, STATE_UNSAFE) for t in edge.triggers)
        arrow = f"{INDENT}{ids[edge.source]} --> {ids[edge.dest]}"
        lines.append(f"{arrow} : {label}" if label else arrow)
    for fan in fans:
        lines.append(f"{INDENT}note left of {ids[fan.dest]} : {escape_text(fan_in_note(fan, machine), STATE_UNSAFE)}")
    for state in machine.states:
        if state.role is StateRole.TERMINAL:
            lines.append(f"{INDENT}{ids[state.name]} --> [*]")
    return "\n".join(lines) + "\n"
