"""A big story in readable parts: the happy path first, then each branch off it (issue 15).

A long sequence diagram with every error arm inline is hard to read at any width. The parts
reuse the story's own items (the same `Step` objects, so the full story's replay resolves them),
cut along the ``happy`` marks of its branches:

* the **happy path** keeps every step outside an alt, takes each alt's happy branch inline, and
  leaves out alts that have none (error handling, a second stop signal);
* then, in story order, one part per **side block**: an alt without a happy branch, whole, or
  the non-happy branches of an alt that has one, titled by where it branches off (the enclosing
  loops and happy branches) and its labels. A note directly before an off-path alt is its
  heading (the seed writes "Error Handling During Startup" there), so it titles the part instead.

Every step of the story is in exactly one part.
"""

from __future__ import annotations

from dataclasses import dataclass

from spec.story import Alt, Branch, Item, Loop, Note, Story


@dataclass(frozen=True)
class StoryPart:
    """One diagram's worth of a story: its title and items."""

    title: str
    items: tuple[Item, ...]


def story_parts(story: Story) -> tuple[StoryPart, ...]:
    """The happy path, then every side block in story order."""
    side: list[StoryPart] = []
    happy = _happy_path(story.items, side, ())
    return (StoryPart("Happy path", happy), *side)


def has_side_blocks(story: Story) -> bool:
    return len(story_parts(story)) > 1


def _happy_path(items: tuple[Item, ...], side: list[StoryPart], where: tuple[str, ...]) -> tuple[Item, ...]:
    kept: list[Item] = []
    for index, item in enumerate(items):
        following = items[index + 1] if index + 1 < len(items) else None
        if isinstance(item, Note) and isinstance(following, Alt) and following.happy is None:
            continue  # the heading of the side block that follows
        if isinstance(item, Loop):
            kept.append(Loop(item.label, _happy_path(item.items, side, (*where, item.label))))
        elif isinstance(item, Alt):
            kept.extend(_split_alt(item, _heading(items, index), side, where))
        else:
            kept.append(item)
    return tuple(kept)


def _split_alt(alt: Alt, heading: str | None, side: list[StoryPart], where: tuple[str, ...]) -> tuple[Item, ...]:
    happy = alt.happy
    if happy is None:
        side.append(StoryPart(_title(where, heading or _labels(alt.branches)), (alt,)))
        return ()
    inline = _happy_path(happy.items, side, (*where, happy.label))
    others = alt.branches[1:]
    if others:
        side.append(StoryPart(_title(where, _labels(others)), (Alt(others),)))
    return inline


def _title(where: tuple[str, ...], what: str) -> str:
    """Where on the happy path a side block branches off (enclosing loops and branches), then what it is."""
    return " › ".join((*where, what))


def _labels(branches: tuple[Branch, ...]) -> str:
    """A part's title from its branches' labels: both of two, else the first and a count."""
    if len(branches) <= 2:
        return " / ".join(b.label for b in branches)
    return f"{branches[0].label} (and {len(branches) - 1} other cases)"


def _heading(items: tuple[Item, ...], index: int) -> str | None:
    before = items[index - 1] if index > 0 else None
    return before.text if isinstance(before, Note) else None
