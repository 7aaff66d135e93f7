"""Recorded traces drawn as sequence diagrams (``python -m spec render --trace``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from spec.machine import TransitionRecord
from spec.machines import MACHINES
from spec.render import render_trace
from spec.render.sequence import ARROWS
from spec.trace import TraceError, TraceEvent, TraceMessage, read_trace, write_trace

SequenceChecker = Callable[[str], dict[str, str]]


def _record_task(triggers: list[str]) -> list[TraceEvent]:
    """Fire `triggers` on a real task machine and keep what its listener reports."""
    records: list[TransitionRecord] = []
    instance = MACHINES["task_lifecycle"].bind(listener=records.append)
    for trigger in triggers:
        instance.fire(trigger)
    return [TraceEvent.from_record(r, time=float(i), component="task:1") for i, r in enumerate(records)]


def test_trace_messages_are_drawn_in_order(sequence_checker: SequenceChecker) -> None:
    events = _record_task(["assign", "start", "progress", "complete"])
    text = render_trace(events)
    assert text == render_trace(events)
    sequence_checker(text)
    arrows = [line.strip() for line in text.splitlines() if "participant" not in line][1:]
    expected = [
        f"{m.sender}{ARROWS[m.kind]}{m.receiver}: {m.label}" for event in events for m in event.messages
    ]
    assert arrows == expected


def test_participants_are_declared_in_order_of_first_appearance(sequence_checker: SequenceChecker) -> None:
    events = _record_task(["assign", "start"])
    declared = list(sequence_checker(render_trace(events)))
    seen: list[str] = []
    for event in events:
        for m in event.messages:
            for pid in (m.sender, m.receiver):
                if pid not in seen:
                    seen.append(pid)
    assert declared == seen


def test_events_without_messages_become_notes(sequence_checker: SequenceChecker) -> None:
    events = _record_task(["assign"])
    silent = TraceEvent(time=3.0, component="task:1", machine="task_lifecycle", trigger="lease_lost",
                        source="assigned", dest="queued")
    text = render_trace([*events, silent])
    sequence_checker(text)
    first = events[0].messages[0].sender
    assert text.splitlines()[-1] == f"    Note over {first}: task#58;1#58; lease_lost (assigned -#62; queued)"


def test_a_trace_without_any_message_cannot_be_drawn() -> None:
    silent = TraceEvent(time=0.0, component="c", machine="task_lifecycle", trigger="t", source="a", dest="b")
    with pytest.raises(TraceError, match="no messages"):
        render_trace([silent])
    with pytest.raises(TraceError, match="no messages"):
        render_trace([])


def test_an_undeclared_participant_is_reported_with_its_event() -> None:
    bad = TraceEvent(time=0.0, component="w-1", machine="worker_lifecycle", trigger="register", source="offline",
                     dest="registering",
                     messages=(TraceMessage(sender="worker", receiver="nobody", label="hi", kind="call"),))
    with pytest.raises(TraceError, match=r"event 1 \(w-1 register\).*unknown participant 'nobody'"):
        render_trace([bad])


def test_trace_written_and_read_back_renders_the_same(tmp_path: Path) -> None:
    events = _record_task(["assign", "start", "interrupt", "requeue"])
    path = tmp_path / "trace.jsonl"
    write_trace(path, events)
    assert render_trace(read_trace(path)) == render_trace(events)
