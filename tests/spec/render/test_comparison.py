"""Spec vs actual as one merged sequence diagram (spec/render/comparison.py)."""

from __future__ import annotations

from collections.abc import Callable

from spec.render.comparison import (
    RUN_ONLY_FILL,
    RUN_ONLY_NOTE,
    SPEC_ONLY_FILL,
    SPEC_ONLY_NOTE,
    render_comparison,
    short_names,
)
from spec.render.mermaid_text import unescape_text
from spec.sequences import STORIES
from spec.story import iter_steps
from spec.trace import TraceEvent, TraceMessage

SequenceChecker = Callable[[str], dict[str, str]]


def event(machine: str, trigger: str, component: str = "c", messages: tuple[TraceMessage, ...] = ()) -> TraceEvent:
    return TraceEvent(time=0.0, component=component, machine=machine, trigger=trigger, source="a", dest="b",
                      messages=messages)


def every_step_of(story: str) -> list[TraceEvent]:
    return [event(s.machine, s.trigger) for s in iter_steps(STORIES[story].items)]


def test_a_run_that_makes_every_story_transition_draws_the_story_unshaded(sequence_checker: SequenceChecker) -> None:
    from spec.render import render_sequence

    story = STORIES["retry_backoff"]
    text = render_comparison(story, every_step_of("retry_backoff"))
    sequence_checker(text)
    assert "rect " not in text
    assert text == render_sequence(story)


def test_spec_only_and_run_only_transitions_are_shaded_and_labelled(sequence_checker: SequenceChecker) -> None:
    story = STORIES["retry_backoff"]
    extra = TraceMessage(kind="self", label="logAttempt()", sender="retry_handler", receiver="retry_handler")
    run = [event("retry", "attempt"), event("retry", "fail_retryable"), event("retry", "retry"),
           event("retry", "surprise", messages=(extra,)), event("retry", "succeed")]
    text = render_comparison(story, run)
    sequence_checker(text)
    lines = [line.strip() for line in text.splitlines()]
    assert lines.count(f"rect {RUN_ONLY_FILL}") == 1
    run_only = lines.index(f"rect {RUN_ONLY_FILL}")
    assert unescape_text(lines[run_only + 1]).endswith(RUN_ONLY_NOTE)
    assert lines[run_only + 2] == "retry_handler->>retry_handler: logAttempt()"
    # give_up, fail_permanent and cancel are in branches the run did not take: one shaded block each
    assert lines.count(f"rect {SPEC_ONLY_FILL}") == 3
    assert sum(1 for line in lines if unescape_text(line).endswith(SPEC_ONLY_NOTE)) == 3


def test_participants_keep_the_story_order_whatever_the_run_touches_first(sequence_checker: SequenceChecker) -> None:
    story = STORIES["task_execution"]
    run = list(reversed(every_step_of("task_execution")))
    declared = list(sequence_checker(render_comparison(story, run)).values())
    assert declared[: len(story.participants)] == [p.name for p in story.participants]


def test_short_names_number_each_machine_in_order_of_appearance() -> None:
    run = [event("task_lifecycle", "assign", "task:t-d639"), event("worker_lifecycle", "poll", "worker:w-1"),
           event("task_lifecycle", "assign", "task:t-0001"), event("task_lifecycle", "start", "task:t-d639")]
    assert short_names(run) == {"task:t-d639": "task_lifecycle 1", "worker:w-1": "worker_lifecycle 1",
                                "task:t-0001": "task_lifecycle 2"}
