"""Sequence stories: the order in which machine transitions make up a seed diagram.

A :class:`Story` holds no messages of its own. It lists *which* transitions of *which* machines
happen, in order, with the seed's ``loop``/``alt``/``opt`` structure and notes; the sequence
renderer fetches each step's messages from the machine table. `replay_story` walks the story on
the machines, so a story that skips a state or fires an illegal trigger is caught by
``python -m spec check`` rather than drawn.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from spec.errors import SpecError, StoryError
from spec.machine import MachineSpec, TransitionSpec
from spec.participants import Participant


@dataclass(frozen=True)
class Step:
    """Fire `trigger` on the machine registered as `machine`.

    ``params`` fill ``{placeholders}`` in the transition's message labels, for transitions
    whose wording depends on data (for example the alert rule that fired).
    """

    machine: str
    trigger: str
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Note:
    """A note over one or two participants (``over``), or beside one (``side`` = left/right)."""

    text: str
    over: tuple[Participant, ...]
    side: str = "over"


@dataclass(frozen=True)
class Loop:
    """A repeated block. Replay checks that the block can run again from where it ends."""

    label: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Branch:
    """One arm of an :class:`Alt`. ``given`` sets machine states first (e.g. breaker open).

    ``happy`` marks the arm the story takes when nothing goes wrong; the docs draw a big story
    as that happy path first, then each other arm on its own (`spec.story_parts`).
    """

    label: str
    items: tuple[Item, ...]
    given: Mapping[str, str] = field(default_factory=dict)
    happy: bool = False


@dataclass(frozen=True)
class Alt:
    """Alternatives; one branch renders as ``opt``. The story continues from the first branch.

    Only the first branch may be ``happy`` (the story continues from it); an alt without a happy
    branch is off the happy path altogether (error handling, a second stop signal).
    """

    branches: tuple[Branch, ...]

    def __post_init__(self) -> None:
        if any(b.happy for b in self.branches[1:]):
            raise StoryError(f"alt {[b.label for b in self.branches]}: only the first branch may be happy")

    @property
    def happy(self) -> Branch | None:
        return self.branches[0] if self.branches and self.branches[0].happy else None


Item = Step | Note | Loop | Alt


@dataclass(frozen=True)
class Story:
    """One sequence diagram of the seed, built from machine transitions."""

    name: str
    title: str
    seed_section: str
    description: str
    machines: tuple[str, ...]
    items: tuple[Item, ...]
    given: Mapping[str, str] = field(default_factory=dict)
    #: Participant order for the diagram header; others follow in order of first appearance.
    participants: tuple[Participant, ...] = ()


def branch(label: str, *items: Item, given: Mapping[str, str] | None = None, happy: bool = False) -> Branch:
    return Branch(label, tuple(items), dict(given or {}), happy)


def happy_branch(label: str, *items: Item, given: Mapping[str, str] | None = None) -> Branch:
    """The branch an alt takes when nothing goes wrong (`Branch.happy`); write it first."""
    return branch(label, *items, given=given, happy=True)


def alt(*branches: Branch) -> Alt:
    return Alt(tuple(branches))


def loop(label: str, *items: Item) -> Loop:
    return Loop(label, tuple(items))


def steps(machine: str, *triggers: str) -> tuple[Step, ...]:
    """Several steps of the same machine, in order."""
    return tuple(Step(machine, t) for t in triggers)


def iter_steps(items: tuple[Item, ...]) -> Iterator[Step]:
    """Every step in the story, depth first."""
    for item in items:
        if isinstance(item, Step):
            yield item
        elif isinstance(item, Loop):
            yield from iter_steps(item.items)
        elif isinstance(item, Alt):
            for b in item.branches:
                yield from iter_steps(b.items)


def iter_branch_labels(items: tuple[Item, ...]) -> Iterator[str]:
    """Every alt/opt branch and loop label in the story, depth first."""
    for item in items:
        if isinstance(item, Loop):
            yield item.label
            yield from iter_branch_labels(item.items)
        elif isinstance(item, Alt):
            for b in item.branches:
                yield b.label
                yield from iter_branch_labels(b.items)


@dataclass(frozen=True)
class ResolvedStep:
    """A story step with the machine transition it resolved to during replay."""

    step: Step
    transition: TransitionSpec
    source: str
    dest: str


def replay_story(story: Story, machines: Mapping[str, MachineSpec]) -> dict[int, ResolvedStep]:
    """Walk `story` on `machines`; map ``id(step)`` to its resolved transition.

    Raises :class:`StoryError` naming the story, step and reason at the first step that the
    machine would refuse.
    """
    for name in story.machines:
        if name not in machines:
            raise StoryError(f"story {story.name!r} uses unknown machine {name!r}")
    states = {name: machines[name].initial for name in story.machines}
    states.update(story.given)
    resolved: dict[int, ResolvedStep] = {}
    _replay(story, story.items, states, machines, resolved)
    return resolved


def _replay(
    story: Story,
    items: tuple[Item, ...],
    states: dict[str, str],
    machines: Mapping[str, MachineSpec],
    resolved: dict[int, ResolvedStep],
) -> None:
    for item in items:
        if isinstance(item, Step):
            if item.machine not in story.machines:
                raise StoryError(
                    f"story {story.name!r}: step {item.trigger!r} uses undeclared machine {item.machine!r}"
                )
            spec = machines[item.machine]
            source = states[item.machine]
            try:
                row = spec.transition_for(source, item.trigger)
            except SpecError as exc:
                raise StoryError(f"story {story.name!r}: {exc}") from exc
            dest = row.destination_from(source)
            resolved[id(item)] = ResolvedStep(item, row, source, dest)
            states[item.machine] = dest
        elif isinstance(item, Loop):
            before = dict(states)
            _replay(story, item.items, states, machines, resolved)
            first = next(iter_steps(item.items), None)
            if first is not None and before.get(first.machine) is not None:
                try:
                    machines[first.machine].transition_for(states[first.machine], first.trigger)
                except SpecError as exc:
                    raise StoryError(
                        f"story {story.name!r}: loop {item.label!r} cannot repeat: {exc}"
                    ) from exc
        elif isinstance(item, Alt):
            outcome: dict[str, str] | None = None
            for b in item.branches:
                branch_states = dict(states)
                branch_states.update(b.given)
                _replay(story, b.items, branch_states, machines, resolved)
                if outcome is None:
                    outcome = branch_states
            if outcome is not None:
                states.clear()
                states.update(outcome)
