"""The diagram catalogue: every diagram `python -m spec` and the docs can render, by name.

Names come from the spec itself: each machine in `spec.machines.MACHINES` (its state diagram,
plus its sequence diagram, the default, when a story of the same name exists in `spec.sequences.STORIES`),
each story (its sequence diagram), and ``error_handling`` (the seed 4.5 flowchart generated
from the taxonomy). A new machine or story appears here with no other edit.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from spec.errors import UnknownDiagramError
from spec.machine import MachineSpec
from spec.machines import MACHINES
from spec.policies import DEFAULT_POLICIES, Policies
from spec.render.flowchart import render_error_flowchart
from spec.render.sequence import render_sequence
from spec.render.state import render_state
from spec.story import Story

STATE, SEQUENCE, FLOWCHART = "state", "sequence", "flowchart"
KINDS = (STATE, SEQUENCE, FLOWCHART)
ERROR_HANDLING = "error_handling"


@dataclass(frozen=True)
class Diagram:
    """One catalogue entry; ``kinds`` lists what it can be drawn as, ``default_kind`` first."""

    name: str
    title: str
    seed_section: str
    kinds: tuple[str, ...]
    default_kind: str
    machine: MachineSpec | None = None
    story: Story | None = None


def load_stories() -> Mapping[str, Story]:
    """`spec.sequences.STORIES`, imported on first use so `spec.sequences` may import the catalogue's inputs."""
    from spec.sequences import STORIES

    return STORIES


def build_catalog(
    machines: Mapping[str, MachineSpec] = MACHINES, stories: Mapping[str, Story] | None = None,
    *, error_flowchart: bool = True,
) -> dict[str, Diagram]:
    """Machines (in `MACHINES` order), then stories without a machine of their name, then the
    flowchart of the platform's error taxonomy unless ``error_flowchart=False``."""
    stories = load_stories() if stories is None else stories
    catalog: dict[str, Diagram] = {}
    for name, machine in machines.items():
        story = stories.get(name)
        # The seed draws these workflows as sequence diagrams, so that is what a bare name shows.
        kinds = (SEQUENCE, STATE) if story is not None else (STATE,)
        catalog[name] = Diagram(name, machine.title, machine.seed_section, kinds, kinds[0], machine, story)
    for name, story in stories.items():
        if name not in catalog:
            catalog[name] = Diagram(name, story.title, story.seed_section, (SEQUENCE,), SEQUENCE, story=story)
    if error_flowchart:
        catalog[ERROR_HANDLING] = Diagram(
            ERROR_HANDLING, "Error classification and handling", "4.5", (FLOWCHART,), FLOWCHART
        )
    return catalog


DIAGRAMS: Mapping[str, Diagram] = build_catalog()


def render_diagram(
    name: str,
    kind: str | None = None,
    *,
    catalog: Mapping[str, Diagram] | None = None,
    machines: Mapping[str, MachineSpec] = MACHINES,
    policies: Policies = DEFAULT_POLICIES,
) -> str:
    """Mermaid source of diagram `name` as `kind` (its default kind when omitted)."""
    entries = DIAGRAMS if catalog is None else catalog
    diagram = entries.get(name)
    if diagram is None:
        raise UnknownDiagramError(name, entries)
    chosen = diagram.default_kind if kind is None else kind
    if chosen not in KINDS:
        raise UnknownDiagramError(name, [f"{n} ({','.join(d.kinds)})" for n, d in entries.items()], kind=chosen)
    if chosen not in diagram.kinds:
        raise UnknownDiagramError(name, [n for n, d in entries.items() if chosen in d.kinds], kind=chosen)
    if chosen == STATE and diagram.machine is not None:
        return render_state(diagram.machine)
    if chosen == SEQUENCE and diagram.story is not None:
        return render_sequence(diagram.story, machines)
    if chosen == FLOWCHART and name == ERROR_HANDLING:
        return render_error_flowchart(policies=policies)
    raise ValueError(f"catalogue entry {name!r} lists kind {chosen!r} but holds nothing to draw it from")


def list_diagrams(catalog: Mapping[str, Diagram] | None = None) -> list[str]:
    """One line per diagram: name, kinds (default first), seed section and title, aligned in columns."""
    entries = DIAGRAMS if catalog is None else catalog
    rows = [(d.name, ",".join(d.kinds), d.seed_section, d.title) for d in entries.values()]
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
    return [
        f"{name:<{widths[0]}}  {kinds:<{widths[1]}}  {section:<{widths[2]}}  {title}"
        for name, kinds, section, title in rows
    ]
