"""Heartbeat silence and lease expiry (spec.decisions.liveness)."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from spec.decisions.liveness import LivenessRules
from spec.policies import HeartbeatPolicy, LeasePolicy


def test_silence_and_lease_expiry_count_their_exact_boundary() -> None:
    rules = LivenessRules(HeartbeatPolicy(interval_s=10.0, timeout_s=30.0), LeasePolicy(lease_ttl_s=60.0))
    assert not rules.is_silent(0.0, 29.999)
    assert rules.is_silent(0.0, 30.0) and rules.silent_at(5.0) == 35.0
    assert not rules.lease_expired(0.0, 59.999) and rules.lease_expired(0.0, 60.0)


def test_the_detection_window_is_timeout_to_timeout_plus_one_sweep() -> None:
    rules = LivenessRules(HeartbeatPolicy(interval_s=10.0, timeout_s=30.0), LeasePolicy())
    assert rules.detected_in_time(30.0) and rules.detected_in_time(40.0)
    assert not rules.detected_in_time(29.9) and not rules.detected_in_time(40.1)
    assert rules.detected_in_time(40.1, tolerance_s=0.2)


# -- detection_due: the window closes only while something sweeps ------------------------------

RULES = LivenessRules(HeartbeatPolicy(interval_s=10.0, timeout_s=30.0), LeasePolicy())
HIGH = RULES.heartbeat.detection_window_s()[1]


def test_without_restarts_a_worker_is_due_one_window_after_its_last_heartbeat() -> None:
    assert RULES.detection_due(100.0, [], []) == 100.0 + HIGH


def test_a_grace_inside_the_window_restarts_it() -> None:
    assert RULES.detection_due(100.0, [0.0, 120.0], [110.0]) == 120.0 + HIGH
    assert RULES.detection_due(100.0, [100.0 + HIGH + 1], []) == 100.0 + HIGH  # a later restart changes nothing


def test_a_worker_that_fell_silent_while_the_orchestrator_was_down_is_due_after_its_return() -> None:
    """Regression (``python -m sim fuzz``): last heartbeat at 111.077, the orchestrator crashed at
    121 and resumed service at 241.112; the checker expected a detection at 151.077, while nothing
    swept. The window reopens with the recovery's grace."""
    assert RULES.detection_due(111.077, [0.212, 241.112], [121.0]) == 241.112 + HIGH
    assert RULES.detection_due(111.077, [0.212], [121.0]) is None  # it never came back: nothing is due
    assert RULES.detection_due(111.077, [0.212, 130.0], [121.0, 130.0]) == 130.0 + HIGH  # a grace resumes a stop


def test_a_standby_that_heard_the_worker_after_the_leader_died_waits_for_the_takeover() -> None:
    """With replicas the heartbeat may reach a standby after the leader's crash; sweeps wait for the
    takeover's grace (``leader_election`` ``lock_acquired``) even when it comes after the window."""
    assert RULES.detection_due(50.0, [0.0, 50.0 + HIGH + 5], [45.0]) == 50.0 + 2 * HIGH + 5


_times = st.lists(st.floats(0, 500, allow_nan=False).map(lambda t: round(t, 1)), max_size=6).map(sorted)


@given(st.floats(0, 500, allow_nan=False), _times, _times)
def test_a_detection_is_due_one_window_after_a_start_while_something_sweeps(
        last_seen: float, graces: list[float], stops: list[float]) -> None:
    due = RULES.detection_due(last_seen, graces, stops)

    def sweeping(at: float) -> bool:
        last_stop = max((s for s in stops if s <= at), default=-math.inf)
        return last_stop <= max((g for g in graces if g <= at), default=-math.inf)

    if due is None:  # sweeping is stopped after the last grace, and that stop came after `last_seen`'s window
        assert stops and (not graces or max(stops) > max(graces))
        return
    start = next((t for t in [last_seen, *graces] if math.isclose(t + HIGH, due)), None)
    assert start is not None and start >= last_seen, "the window starts at the last heartbeat or at a grace"
    assert not any(start < g <= due for g in graces), "a grace inside the window would have restarted it"
    assert sweeping(due)
