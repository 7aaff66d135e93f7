"""`spec.trace_merge`: traces of several processes merged along each component's chain of states."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from spec.conformance import check_trace
from spec.machines import MACHINES, WORKFLOW_LIFECYCLE
from spec.trace import TraceEvent
from spec.trace_merge import merge_traces


def _event(machine: str, component: str, source: str, trigger: str, time: float) -> TraceEvent:
    record = MACHINES[machine].record_for(source, trigger)
    return TraceEvent.from_record(record, time=time, component=component)


def test_a_submit_stamped_after_the_start_it_caused_on_another_replica_is_put_first() -> None:
    """The race of the two-replica e2e under load: replica A committed a submit and was descheduled
    before writing its trace line; replica B leased and started the task meanwhile."""
    new = WORKFLOW_LIFECYCLE.initial
    pending = WORKFLOW_LIFECYCLE.next_state(new, "submit")
    a = [_event("workflow_lifecycle", "workflow:w1", new, "submit", 10.030)]
    b = [_event("workflow_lifecycle", "workflow:w1", pending, "task_started", 10.010)]
    assert not check_trace(sorted([*a, *b], key=lambda e: e.time), check_timing=False).ok
    merged = merge_traces([a, b], MACHINES, slack_s=0.05)
    assert [e.trigger for e in merged] == ["submit", "task_started"]
    assert check_trace(merged, tolerance_s=0.05).ok
    # Beyond the slack nothing moves: the checker reports what the clocks say.
    assert [e.trigger for e in merge_traces([a, b], MACHINES, slack_s=0.001)] == ["task_started", "submit"]


@given(st.lists(st.tuples(st.integers(0, 1), st.floats(0, 0.04)), min_size=1, max_size=12))
def test_each_stream_keeps_its_order_and_every_chain_holds(placement: list[tuple[int, float]]) -> None:
    """A workflow's legal run, its events written by two processes with skewed stamps (within the
    slack): the merge keeps each process's order and replays on the machine."""
    path = ["submit", "task_started", "complete"]
    streams: list[list[TraceEvent]] = [[], []]
    state, now = WORKFLOW_LIFECYCLE.initial, 0.0
    for index, (stream, skew) in enumerate(placement[:len(path)]):
        trigger = path[index]
        now += 0.01  # closer than the skew: stamps alone would often put the events out of order
        last = streams[stream][-1].time if streams[stream] else 0.0
        streams[stream].append(_event("workflow_lifecycle", "workflow:w", state, trigger, max(last, now + skew)))
        state = WORKFLOW_LIFECYCLE.next_state(state, trigger)
    merged = merge_traces(streams, MACHINES, slack_s=0.05)
    for stream in streams:
        assert [e for e in merged if e in stream] == stream
    assert check_trace(merged, tolerance_s=0.05).ok
