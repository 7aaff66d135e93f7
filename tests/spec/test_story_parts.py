"""spec.story_parts: a big story as its happy path, then each side block (issue 15)."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spec.errors import StoryError
from spec.participants import ORCHESTRATOR, WORKER
from spec.render import render_sequence, render_sequence_parts
from spec.sequences import STORIES
from spec.story import Alt, Branch, Item, Loop, Note, Step, Story, alt, branch, happy_branch, iter_steps
from spec.story_parts import story_parts


def _step_ids(items: tuple[Item, ...]) -> list[int]:
    return [id(step) for step in iter_steps(items)]


def _has_alt(items: tuple[Item, ...]) -> bool:
    return any(isinstance(i, Alt) or (isinstance(i, Loop) and _has_alt(i.items)) for i in items)


def _partitioned(story: Story) -> None:
    parts = story_parts(story)
    assert parts[0].title == "Happy path"
    assert not _has_alt(parts[0].items), "the happy path takes each alt's happy branch inline"
    in_parts = Counter(i for part in parts for i in _step_ids(part.items))
    assert in_parts == Counter(_step_ids(story.items)), "every step is in exactly one part"


@pytest.mark.parametrize("name", sorted(STORIES))
def test_every_step_of_every_story_is_in_exactly_one_part(name: str) -> None:
    _partitioned(STORIES[name])


@pytest.mark.parametrize("name", sorted(STORIES))
def test_the_parts_draw_the_same_arrows_as_the_whole_story(name: str) -> None:
    story = STORIES[name]

    def arrows(source: str) -> Counter[str]:
        return Counter(line.strip() for line in source.splitlines() if ">>" in line or "-)" in line)

    drawn: Counter[str] = Counter()
    for _, source in render_sequence_parts(story):
        drawn += arrows(source)
        lines = [line.strip() for line in source.splitlines()[1:]]
        declared = [line.split()[1] for line in lines if line.startswith("participant ")]
        body = " ".join(line.split(":")[0] for line in lines if not line.startswith("participant "))
        unused = [pid for pid in declared if not re.search(rf"(?<![\w]){re.escape(pid)}(?![\w])", body)]
        assert unused == [], "a part declares only the participants it draws"
    assert drawn == arrows(render_sequence(story))


def test_the_startup_happy_path_ends_healthy_and_its_error_handling_is_a_part_of_its_own() -> None:
    parts = {p.title: p for p in story_parts(STORIES["orchestrator_startup"])}
    happy = [s.trigger for s in iter_steps(parts["Happy path"].items)]
    assert happy[0] == "start" and happy[-1] == "all_healthy"
    assert "config_failed" not in happy and "service_degraded" not in happy
    errors = [s.trigger for s in iter_steps(parts["Error Handling During Startup"].items)]
    assert errors == ["config_failed", "database_failed", "task_queue_failed", "port_in_use", "startup_timed_out"]
    assert not any("Error Handling" in i.text for i in parts["Happy path"].items if isinstance(i, Note))


def test_a_side_block_inside_a_happy_branch_says_where_it_branches_off() -> None:
    titles = [p.title for p in story_parts(STORIES["circuit_breaker"])]
    assert "Circuit Breaker Closed › Operation Fails" in titles
    assert "Circuit Breaker Open" in titles


def test_only_the_first_branch_of_an_alt_may_be_happy() -> None:
    with pytest.raises(StoryError, match="only the first branch may be happy"):
        alt(branch("error"), happy_branch("fine"))


# -- any shape of story -------------------------------------------------------------------------

_NOTE = Note("n", (WORKER, ORCHESTRATOR))


def _items(depth: int) -> st.SearchStrategy[tuple[Item, ...]]:
    leaf: st.SearchStrategy[Item] = st.one_of(st.builds(lambda: Step("m", "t")), st.just(_NOTE))
    if depth == 0:
        return st.lists(leaf, max_size=4).map(tuple)
    inner = _items(depth - 1)
    branches = st.lists(st.builds(lambda items: Branch("b", items), inner), min_size=1, max_size=3)
    alts = st.tuples(branches, st.booleans()).map(
        lambda pair: Alt((Branch(pair[0][0].label, pair[0][0].items, happy=pair[1]), *pair[0][1:])))
    loops = st.builds(lambda items: Loop("l", items), inner)
    return st.lists(st.one_of(leaf, alts, loops), max_size=5).map(tuple)


@given(_items(3))
def test_any_story_splits_into_parts_that_hold_each_step_once(items: tuple[Item, ...]) -> None:
    _partitioned(Story("s", "S", "x", "d", ("m",), items))
