"""Mermaid ``sequenceDiagram`` for a story (issue 2, "Renderers to Mermaid"; seed 4.1-4.5).

A :class:`~spec.story.Story` names transitions, not messages: the messages come from the
machine tables, so a sequence diagram cannot drift from the machines it draws. The story is
replayed on the machines first (`replay_story`), so a story that fires an illegal trigger
raises :class:`~spec.errors.StoryError` instead of being drawn.

Arrows follow the message kind: call ``->>``, reply ``-->>``, async ``-)``, self ``->>`` to
the sender itself. A one-branch ``Alt`` is drawn as ``opt``, several as ``alt``/``else``.
Participants are declared in the story's order, then in order of first appearance, so the
output is byte-identical for the same spec.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from spec.errors import StoryError
from spec.machine import MachineSpec
from spec.machines import MACHINES
from spec.messages import Message, MessageKind
from spec.participants import Participant
from spec.render.mermaid_text import escape_text, safe_id
from spec.story import Alt, Item, Loop, Note, ResolvedStep, Step, Story, replay_story
from spec.story_parts import story_parts

INDENT = "    "

ARROWS: Mapping[MessageKind, str] = {
    MessageKind.CALL: "->>",
    MessageKind.REPLY: "-->>",
    MessageKind.ASYNC: "-)",
    MessageKind.SELF: "->>",
}

NOTE_SIDES = ("over", "left", "right")

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def fill_placeholders(label: str, params: Mapping[str, str]) -> str:
    """`label` with each ``{name}`` that `params` defines replaced; unknown ones are kept."""
    return _PLACEHOLDER.sub(lambda m: params.get(m.group(1), m.group(0)), label)


class ParticipantIds:
    """Declared participants of one diagram, in declaration order, with their Mermaid ids."""

    def __init__(self, first: Iterable[Participant] = ()) -> None:
        self._ids: dict[Participant, str] = {}
        self._taken: set[str] = set()
        for p in first:
            self.declare(p)

    def declare(self, p: Participant) -> str:
        if p not in self._ids:
            self._ids[p] = safe_id(p.id, self._taken)
        return self._ids[p]

    def __getitem__(self, p: Participant) -> str:
        return self._ids[p]

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def participants(self) -> tuple[Participant, ...]:
        return tuple(self._ids)

    @property
    def first(self) -> Participant:
        return next(iter(self._ids))

    def declarations(self) -> list[str]:
        return [f"{INDENT}participant {pid} as {escape_text(p.name)}" for p, pid in self._ids.items()]


def message_line(message: Message, ids: ParticipantIds, depth: int, params: Mapping[str, str] | None = None) -> str:
    """One arrow; declares its participants in `ids` on first use."""
    sender = ids.declare(message.sender)
    receiver = ids.declare(message.receiver)
    text = escape_text(fill_placeholders(message.label, params or {}))
    return f"{INDENT * depth}{sender}{ARROWS[message.kind]}{receiver}: {text}"


def note_line(note: Note, ids: ParticipantIds, depth: int, story_name: str = "") -> str:
    """A ``Note over``/``left of``/``right of`` line; Mermaid spans at most two participants."""
    where = f"story {story_name!r}: " if story_name else ""
    if not note.over:
        raise StoryError(f"{where}note {note.text!r} names no participant")
    if note.side not in NOTE_SIDES:
        raise StoryError(f"{where}note {note.text!r}: side must be one of {', '.join(NOTE_SIDES)}, not {note.side!r}")
    names = [ids.declare(p) for p in note.over]
    text = escape_text(note.text)
    if note.side == "over":
        span = names[0] if names[0] == names[-1] else f"{names[0]},{names[-1]}"
        return f"{INDENT * depth}Note over {span}: {text}"
    return f"{INDENT * depth}Note {note.side} of {names[0]}: {text}"


def render_sequence(story: Story, machines: Mapping[str, MachineSpec] = MACHINES) -> str:
    """The story as a ``sequenceDiagram``, ending with a newline; raises `StoryError` if it cannot replay."""
    resolved = replay_story(story, machines)
    ids = ParticipantIds(story.participants)
    body: list[str] = []
    _render_items(story, story.items, resolved, ids, body, depth=1)
    return "\n".join(["sequenceDiagram", *ids.declarations(), *body]) + "\n"


def render_sequence_parts(story: Story, machines: Mapping[str, MachineSpec] = MACHINES) -> tuple[tuple[str, str], ...]:
    """``(title, sequenceDiagram)`` for each of `story`'s parts (`spec.story_parts`): the happy path,
    then each side block. Each part declares only the participants it uses, in the story's order."""
    resolved = replay_story(story, machines)
    drawn: list[tuple[str, str]] = []
    for part in story_parts(story):
        probe = ParticipantIds()
        _render_items(story, part.items, resolved, probe, [], depth=1)
        used = set(probe.participants)
        ids = ParticipantIds([p for p in story.participants if p in used])
        body: list[str] = []
        _render_items(story, part.items, resolved, ids, body, depth=1)
        drawn.append((part.title, "\n".join(["sequenceDiagram", *ids.declarations(), *body]) + "\n"))
    return tuple(drawn)


def _render_items(
    story: Story,
    items: tuple[Item, ...],
    resolved: Mapping[int, ResolvedStep],
    ids: ParticipantIds,
    out: list[str],
    depth: int,
) -> None:
    pad = INDENT * depth
    for item in items:
        if isinstance(item, Step):
            row = resolved[id(item)].transition
            out.extend(message_line(m, ids, depth, item.params) for m in row.messages)
        elif isinstance(item, Note):
            out.append(note_line(item, ids, depth, story.name))
        elif isinstance(item, Loop):
            out.append(f"{pad}loop {escape_text(item.label)}".rstrip())
            _render_items(story, item.items, resolved, ids, out, depth + 1)
            out.append(f"{pad}end")
        elif isinstance(item, Alt):
            if not item.branches:
                raise StoryError(f"story {story.name!r}: an alt block has no branches")
            keyword = "opt" if len(item.branches) == 1 else "alt"
            for index, branch in enumerate(item.branches):
                out.append(f"{pad}{keyword if index == 0 else 'else'} {escape_text(branch.label)}".rstrip())
                _render_items(story, branch.items, resolved, ids, out, depth + 1)
            out.append(f"{pad}end")
        else:  # pragma: no cover - Item is a closed union
            raise StoryError(f"story {story.name!r}: cannot draw {type(item).__name__}")
