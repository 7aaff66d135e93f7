"""The trace format round-trips and rejects bad lines naming the file, line and field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spec.machines import MACHINES
from spec.trace import TraceError, TraceEvent, parse_trace_lines, read_trace, write_trace


def _events() -> list[TraceEvent]:
    events: list[TraceEvent] = []
    instance = MACHINES["task_lifecycle"].bind(
        listener=lambda r: events.append(TraceEvent.from_record(r, time=float(len(events)), component="task:1"))
    )
    for trigger in ("assign", "start", "progress", "complete"):
        instance.fire(trigger)
    return events


def test_round_trip(tmp_path: Path) -> None:
    events = _events()
    path = tmp_path / "t.jsonl"
    write_trace(path, events)
    assert read_trace(path) == events
    first = json.loads(path.read_text().splitlines()[0])
    assert first["version"] == 1 and first["machine"] == "task_lifecycle" and first["messages"]
    assert events[1].messages[0].to_message().sender.id == "worker"


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("not json", "line 1|:1: not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"version": 99}', "field 'version'"),
        ('{"version": 1, "time": -1, "component": "c", "machine": "m", "trigger": "t", "source": "a", "dest": "b"}',
         "field 'time'"),
        ('{"version": 1, "time": 0, "machine": "m", "trigger": "t", "source": "a", "dest": "b"}',
         "field 'component'"),
    ],
)
def test_bad_lines_are_named(line: str, match: str) -> None:
    with pytest.raises(TraceError, match=match):
        list(parse_trace_lines([line], source="x.jsonl"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="cannot read trace file"):
        read_trace(tmp_path / "missing.jsonl")


@given(st.lists(st.sampled_from(MACHINES["retry"].triggers), max_size=10), st.floats(0, 1e6))
def test_serialisation_is_stable(triggers: list[str], time: float) -> None:
    instance = MACHINES["retry"].bind()
    for trigger in triggers:
        if instance.can_fire(trigger):
            record = instance.fire(trigger)
            event = TraceEvent.from_record(record, time=time, component="call:1")
            assert list(parse_trace_lines([event.to_json()])) == [event]
