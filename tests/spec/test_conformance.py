"""The trace validator accepts traces the spec allows and pinpoints the first divergence."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec.conformance import check_trace
from spec.machines import MACHINES
from spec.policies import DEFAULT_POLICIES
from spec.trace import TraceEvent


def _run(machine: str, steps: list[tuple[float, str]], component: str = "c1", **data: object) -> list[TraceEvent]:
    instance = MACHINES[machine].bind()
    events = []
    for time, trigger in steps:
        record = instance.fire(trigger)
        events.append(TraceEvent.from_record(record, time=time, component=component, data=dict(data)))
    return events


@settings(max_examples=50, deadline=None)
@given(data=st.data(), name=st.sampled_from(["task_lifecycle", "worker_lifecycle", "orchestrator_startup",
                                             "coding_pipeline", "websocket_session", "orchestrator_shutdown"]))
def test_random_legal_traces_conform_and_any_corruption_is_found(data: st.DataObject, name: str) -> None:
    spec = MACHINES[name]
    instance = spec.bind()
    events: list[TraceEvent] = []
    for i in range(data.draw(st.integers(1, 25))):
        allowed = spec.allowed_triggers(instance.state)
        if not allowed:
            break
        record = instance.fire(data.draw(st.sampled_from(allowed)))
        events.append(TraceEvent.from_record(record, time=float(i), component="x"))
    if not events:
        return
    assert check_trace(events, check_timing=False).ok  # times here are arbitrary; see the timing tests
    victim = data.draw(st.integers(0, len(events) - 1))
    wrong = data.draw(st.sampled_from([s for s in spec.state_names if s != events[victim].dest] or ["nowhere"]))
    corrupted = [*events[:victim], events[victim].model_copy(update={"dest": wrong}), *events[victim + 1:]]
    report = check_trace(corrupted, check_timing=False)
    assert not report.ok and report.divergence is not None
    assert report.divergence.index == victim + 1
    assert "wrong destination" in str(report.divergence)


def test_skipped_step_is_reported_with_expected_state() -> None:
    events = _run("task_lifecycle", [(0, "assign"), (1, "start"), (2, "complete")])
    report = check_trace([events[0], events[2]])
    assert report.divergence is not None
    assert report.divergence.index == 2
    assert "'assigned'" in report.divergence.expected and "'running'" in report.divergence.actual


def test_unknown_machine_and_message_mismatch() -> None:
    event = _run("task_lifecycle", [(0, "assign")])[0]
    assert "unknown machine" in str(check_trace([event.model_copy(update={"machine": "nope"})]).divergence)
    assert "messages differ" in str(check_trace([event.model_copy(update={"messages": ()})]).divergence)
    assert check_trace([event.model_copy(update={"messages": ()})], check_messages=False).ok


def test_retry_schedule_is_checked() -> None:
    d = DEFAULT_POLICIES.backoff.schedule()
    good = [(0, "attempt"), (0, "fail_retryable"), (d[0], "retry"), (d[0], "fail_retryable"),
            (d[0] + d[1], "retry"), (d[0] + d[1], "fail_retryable"), (sum(d), "retry"), (sum(d), "give_up")]
    assert check_trace(_run("retry", good)).ok
    late = [*good[:2], (d[0] + 0.5, "retry")]
    report = check_trace(_run("retry", late))
    assert report.divergence is not None and "off schedule" in report.divergence.reason
    assert check_trace(_run("retry", late), tolerance_s=0.5).ok
    early_give_up = [(0, "attempt"), (0, "give_up")]
    assert "retries left" in str(check_trace(_run("retry", early_give_up)).divergence)


def test_breaker_threshold_window_and_open_duration() -> None:
    cb = DEFAULT_POLICIES.circuit_breaker
    fails = [(float(i), "record_failure") for i in range(cb.failure_threshold - 1)]
    opened_at = float(cb.failure_threshold - 1)
    good = [*fails, (opened_at, "trip"), (opened_at + 1, "reject"),
            (opened_at + cb.open_duration_s, "probe"), (opened_at + cb.open_duration_s, "trial_succeeded")]
    assert check_trace(_run("circuit_breaker", good)).ok
    too_early = [*fails, (opened_at, "trip"), (opened_at + cb.open_duration_s - 1, "probe")]
    assert "too early" in str(check_trace(_run("circuit_breaker", too_early)).divergence)
    early_trip = [(0.0, "record_failure"), (1.0, "trip")]
    assert "off threshold" in str(check_trace(_run("circuit_breaker", early_trip)).divergence)
    spread = [(i * cb.window_s, "record_failure") for i in range(cb.failure_threshold + 2)]
    assert check_trace(_run("circuit_breaker", spread)).ok  # failures outside the window never add up
    missed = [(float(i), "record_failure") for i in range(cb.failure_threshold)]
    assert "did not open" in str(check_trace(_run("circuit_breaker", missed)).divergence)


def test_heartbeat_detection_window() -> None:
    hb = DEFAULT_POLICIES.heartbeat
    base = [(0.0, "register"), (0.0, "capabilities_accepted"), (hb.interval_s, "heartbeat")]
    ok = [*base, (hb.interval_s + hb.timeout_s + hb.interval_s / 2, "heartbeats_missed")]
    assert check_trace(_run("worker_lifecycle", ok)).ok
    too_soon = [*base, (hb.interval_s + hb.timeout_s / 2, "heartbeats_missed")]
    assert "outside the window" in str(check_trace(_run("worker_lifecycle", too_soon)).divergence)
    too_late = [*base, (hb.interval_s + hb.timeout_s + 2 * hb.interval_s, "heartbeats_missed")]
    assert not check_trace(_run("worker_lifecycle", too_late)).ok


def test_shutdown_drain_deadline() -> None:
    """`DrainTiming`: the deadline of a graceful shutdown is declared on time, through the checker."""
    sd = DEFAULT_POLICIES.shutdown
    settle = [(0.0, t) for t in ("stop", "queue_paused", "http_draining", "websockets_refused", "workflows_settled")]
    ok = [*settle, (0.0, "tasks_still_running"), (sd.drain_deadline_s, "drain_deadline_reached"),
          (sd.deadline_s, "tasks_interrupted")]
    assert check_trace(_run("orchestrator_shutdown", ok)).ok
    early = [*ok[:-2], (sd.drain_deadline_s / 2, "drain_deadline_reached")]
    assert "before its deadline" in str(check_trace(_run("orchestrator_shutdown", early)).divergence)
    late = [*ok[:-2], (sd.drain_deadline_s + 2 * sd.check_interval_s, "drain_deadline_reached")]
    assert "deadline late" in str(check_trace(_run("orchestrator_shutdown", late)).divergence)


@pytest.mark.parametrize(("machine", "steps"), [
    ("orchestrator_startup", ["start", "config_loaded", "logger_ready", "database_ready", "task_queue_ready",
                              "worker_pool_ready"]),
    ("orchestrator_recovery", ["restart", "database_restored", "queue_recovered", "workflows_resumed"]),
])
def test_a_restart_gives_every_worker_a_fresh_timeout(machine: str, steps: list[str]) -> None:
    """`spec.decisions.liveness.HEARTBEAT_GRACE`: the runtime, the simulator and this checker agree
    that a worker dead across a restart is detected one timeout after the grace, not after its last
    heartbeat (found by hypothesis in the runtime conformance test)."""
    hb = DEFAULT_POLICIES.heartbeat
    worker = _run("worker_lifecycle", [(0.0, "register"), (0.0, "capabilities_accepted")], component="w")
    restart_at = 3 * hb.timeout_s
    restart = _run(machine, [(restart_at, trigger) for trigger in steps], component="orchestrator")
    detected = _run("worker_lifecycle", [(0.0, "register"), (0.0, "capabilities_accepted"),
                                         (restart_at + hb.timeout_s + hb.interval_s / 2, "heartbeats_missed")],
                    component="w")[2:]
    assert check_trace([*worker, *restart, *detected]).ok
    without_grace = check_trace([*worker, *detected])
    assert without_grace.divergence is not None and "outside the window" in without_grace.divergence.reason


def test_rate_limit_wait() -> None:
    rl = DEFAULT_POLICIES.rate_limit
    ok = _run("rate_limit", [(0, "request"), (0, "limited_with_retry_after"), (7, "retry")], retryAfterS=7)
    assert check_trace(ok).ok
    early = _run("rate_limit", [(0, "request"), (0, "limited_with_retry_after"), (6, "retry")], retryAfterS=7)
    assert "before Retry-After" in str(check_trace(early).divergence)
    steps = [(0.0, "request"), (0.0, "limited_without_retry_after"), (rl.default_delay_s - 1, "retry")]
    default = _run("rate_limit", steps)
    assert not check_trace(default).ok


def test_components_are_independent_and_time_must_not_go_backwards() -> None:
    a = _run("task_lifecycle", [(0, "assign"), (2, "start")], component="task:a")
    b = _run("task_lifecycle", [(1, "assign")], component="task:b")
    report = check_trace([a[0], b[0], a[1]])
    assert report.ok and report.components == 2
    assert report.final_states == {"task:a": "running", "task:b": "assigned"}
    assert "backwards" in str(check_trace([a[1], b[0]], require_initial=False).divergence)


def test_require_initial_can_be_relaxed_for_partial_traces() -> None:
    events = _run("task_lifecycle", [(0, "assign"), (1, "start")])
    assert not check_trace(events[1:]).ok
    assert check_trace(events[1:], require_initial=False).ok
