"""Stories replay on the machines; broken stories fail with the story's and step's names."""

from __future__ import annotations

import pytest

from spec.errors import StoryError
from spec.machines import MACHINES
from spec.participants import ORCHESTRATOR
from spec.sequences import STORIES
from spec.story import Note, Step, Story, alt, branch, iter_branch_labels, iter_steps, loop, replay_story

SEED_BRANCHES = {
    "orchestrator_startup": ["Configuration Error", "Database Error", "Service Error"],
    "worker_registration": ["Heartbeat Loop", "Task Polling Loop", "Task Available", "No Task Available",
                            "Progress Reporting", "Health Check Loop", "Worker Unhealthy"],
    "task_execution": ["Code Generation Streaming", "Build Progress", "Test Progress", "Build Failure",
                       "Test Failure", "AI Provider Error"],
    "orchestrator_shutdown": ["Active Workflows Exist", "Wait for Workflows", "Wait for Tasks"],
    "worker_shutdown": ["No Current Task"],
    "circuit_breaker": ["Circuit Breaker Closed", "Operation Successful", "Operation Fails", "Retry Count < Max",
                        "Retry Count >= Max", "Failure Threshold Reached", "Below Threshold",
                        "Circuit Breaker Open", "Timeout Period Elapsed", "Still in Timeout"],
}


@pytest.mark.parametrize("name", sorted(STORIES))
def test_story_replays(name: str) -> None:
    resolved = replay_story(STORIES[name], MACHINES)
    assert len(resolved) == len(list(iter_steps(STORIES[name].items)))


@pytest.mark.parametrize("name", sorted(SEED_BRANCHES))
def test_seed_branches_are_in_the_stories(name: str) -> None:
    labels = list(iter_branch_labels(STORIES[name].items))
    for wanted in SEED_BRANCHES[name]:
        assert any(label.startswith(wanted) for label in labels), (wanted, labels)


def test_every_machine_appears_in_some_story() -> None:
    used = {step.machine for story in STORIES.values() for step in iter_steps(story.items)}
    assert used == set(MACHINES)


def test_illegal_step_names_story_and_trigger() -> None:
    story = Story("s", "S", "0", "", ("task_lifecycle",), (Step("task_lifecycle", "start"),))
    with pytest.raises(StoryError, match=r"story 's'.*'start'.*'queued'"):
        replay_story(story, MACHINES)


def test_loop_that_cannot_repeat_is_rejected() -> None:
    story = Story("s", "S", "0", "", ("task_lifecycle",), (loop("again", Step("task_lifecycle", "assign")),))
    with pytest.raises(StoryError, match="loop 'again' cannot repeat"):
        replay_story(story, MACHINES)


def test_undeclared_machine_is_rejected() -> None:
    story = Story("s", "S", "0", "", ("task_lifecycle",), (Step("retry", "attempt"),))
    with pytest.raises(StoryError, match="undeclared machine 'retry'"):
        replay_story(story, MACHINES)
    with pytest.raises(StoryError, match="unknown machine 'nosuch'"):
        replay_story(Story("s", "S", "0", "", ("nosuch",), ()), MACHINES)


def test_given_sets_branch_state_and_first_branch_continues() -> None:
    story = Story(
        "s", "S", "0", "", ("task_lifecycle",),
        (
            Note("n", (ORCHESTRATOR,)),
            alt(branch("normal", Step("task_lifecycle", "assign")),
                branch("already running", Step("task_lifecycle", "complete"), given={"task_lifecycle": "running"})),
            Step("task_lifecycle", "start"),
        ),
    )
    resolved = replay_story(story, MACHINES)
    assert sorted(r.dest for r in resolved.values()) == ["assigned", "completed", "running"]
