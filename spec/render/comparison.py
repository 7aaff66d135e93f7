"""Spec vs actual as one ``sequenceDiagram``: a story and a recorded run of it, merged.

Two diagrams side by side (the story, and the run drawn by `render_trace`) left the reader to
find the differences, with participants in different orders. Here the story is drawn once, in
its own structure and participant order, and each transition is marked by what the run did:

* a transition the run made too is drawn plainly;
* consecutive transitions the run did not make are shaded in :data:`SPEC_ONLY_FILL` under a
  note :data:`SPEC_ONLY_NOTE`;
* a transition the run made that the story does not show is drawn, with its recorded messages,
  right after the story transition the run made just before it, shaded in
  :data:`RUN_ONLY_FILL` under a note :data:`RUN_ONLY_NOTE`.

Transitions are compared per machine and trigger (component names differ from run to run).
The colours are translucent so they read on a light and a dark page; the notes say the same in
words, for readers who cannot tell the colours apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from spec.machine import MachineSpec
from spec.machines import MACHINES
from spec.render.mermaid_text import escape_text
from spec.render.sequence import INDENT, ParticipantIds, message_line, note_line
from spec.story import Alt, Item, Loop, Note, ResolvedStep, Step, Story, iter_steps, replay_story
from spec.trace import TraceEvent

SPEC_ONLY_FILL = "rgba(255, 152, 0, 0.2)"
RUN_ONLY_FILL = "rgba(33, 150, 243, 0.2)"
SPEC_ONLY_NOTE = "spec only: not made in this run"
RUN_ONLY_NOTE = "run only: not in the story"

Transition = tuple[str, str]


def first_occurrences(pairs: Iterable[Transition]) -> list[Transition]:
    """`pairs` without repeats, in order of first appearance."""
    return list(dict.fromkeys(pairs))


def short_names(events: Iterable[TraceEvent]) -> dict[str, str]:
    """A stable short name per component: ``task_lifecycle 1``, ``task_lifecycle 2``...

    Recorded component ids (``task:t-d639...``) change on every run; numbering each machine's
    components in order of first appearance gives names that survive a re-recording.
    """
    names: dict[str, str] = {}
    counts: dict[str, int] = {}
    for event in events:
        if event.component not in names:
            counts[event.machine] = counts.get(event.machine, 0) + 1
            names[event.component] = f"{event.machine} {counts[event.machine]}"
    return names


@dataclass(frozen=True)
class _Plan:
    """What the merged drawing needs to know about the run."""

    recorded: frozenset[Transition]
    #: Run-only events to draw after the story transition given (``None``: before everything).
    after: Mapping[Transition | None, tuple[TraceEvent, ...]]
    names: Mapping[str, str]


def _plan(story: Story, events: Sequence[TraceEvent]) -> _Plan:
    machines = set(story.machines)
    mine = [e for e in events if e.machine in machines]
    expected = {(s.machine, s.trigger) for s in iter_steps(story.items)}
    after: dict[Transition | None, list[TraceEvent]] = {}
    drawn: set[Transition] = set()
    anchor: Transition | None = None
    for event in mine:
        pair = (event.machine, event.trigger)
        if pair in expected:
            anchor = pair
        elif pair not in drawn:
            drawn.add(pair)
            after.setdefault(anchor, []).append(event)
    return _Plan(
        recorded=frozenset((e.machine, e.trigger) for e in mine),
        after={k: tuple(v) for k, v in after.items()},
        names=short_names(events),
    )


class _Drawing:
    """The body of the merged diagram, built item by item."""

    def __init__(self, story: Story, resolved: Mapping[int, ResolvedStep], plan: _Plan) -> None:
        self.story = story
        self.resolved = resolved
        self.plan = plan
        self.ids = ParticipantIds(story.participants)
        self.lines: list[str] = []
        self._anchors_drawn: set[Transition | None] = set()

    def note_over_first(self, depth: int, text: str) -> str:
        if not len(self.ids):
            raise ValueError(f"story {self.story.name!r} declares no participant to hang a note on")
        return f"{INDENT * depth}Note over {self.ids[self.ids.first]}: {escape_text(text)}"

    def run_only(self, anchor: Transition | None, depth: int) -> None:
        events = self.plan.after.get(anchor, ())
        if not events or anchor in self._anchors_drawn:
            return
        self._anchors_drawn.add(anchor)
        pad = INDENT * depth
        self.lines.append(f"{pad}rect {RUN_ONLY_FILL}")
        self.lines.append(self.note_over_first(depth + 1, RUN_ONLY_NOTE))
        for event in events:
            messages = [m.to_message() for m in event.messages]
            if not messages:
                name = self.plan.names.get(event.component, event.component)
                self.lines.append(self.note_over_first(depth + 1, f"{name}: {event.trigger}"))
            self.lines.extend(message_line(m, self.ids, depth + 1) for m in messages)
        self.lines.append(f"{pad}end")

    def step(self, item: Step, depth: int) -> list[str]:
        row = self.resolved[id(item)].transition
        return [message_line(m, self.ids, depth, item.params) for m in row.messages]

    def items(self, items: tuple[Item, ...], depth: int) -> None:
        pad = INDENT * depth
        pending: list[Step] = []

        def flush() -> None:
            if not pending:
                return
            self.lines.append(f"{pad}rect {SPEC_ONLY_FILL}")
            self.lines.append(self.note_over_first(depth + 1, SPEC_ONLY_NOTE))
            for spec_only in pending:
                self.lines.extend(self.step(spec_only, depth + 1))
            self.lines.append(f"{pad}end")
            pending.clear()

        for item in items:
            if isinstance(item, Step):
                pair = (item.machine, item.trigger)
                if pair not in self.plan.recorded:
                    pending.append(item)
                    continue
                flush()
                self.lines.extend(self.step(item, depth))
                self.run_only(pair, depth)
                continue
            flush()
            if isinstance(item, Note):
                self.lines.append(note_line(item, self.ids, depth, self.story.name))
            elif isinstance(item, Loop):
                self.lines.append(f"{pad}loop {escape_text(item.label)}".rstrip())
                self.items(item.items, depth + 1)
                self.lines.append(f"{pad}end")
            elif isinstance(item, Alt):
                keyword = "opt" if len(item.branches) == 1 else "alt"
                for index, branch in enumerate(item.branches):
                    self.lines.append(f"{pad}{keyword if index == 0 else 'else'} {escape_text(branch.label)}".rstrip())
                    self.items(branch.items, depth + 1)
                self.lines.append(f"{pad}end")
        flush()


def render_comparison(
    story: Story, events: Sequence[TraceEvent], machines: Mapping[str, MachineSpec] = MACHINES
) -> str:
    """The story and the run in one ``sequenceDiagram``, ending with a newline."""
    drawing = _Drawing(story, replay_story(story, machines), _plan(story, events))
    drawing.run_only(None, 1)
    drawing.items(story.items, 1)
    # Run-only events anchored on a story transition the drawing never reached (none, unless the
    # story repeats a transition inside a branch the walk skipped) still appear, at the end.
    for anchor in drawing.plan.after:
        drawing.run_only(anchor, 1)
    return "\n".join(["sequenceDiagram", *drawing.ids.declarations(), *drawing.lines]) + "\n"
