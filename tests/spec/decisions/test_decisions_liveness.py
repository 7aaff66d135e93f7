"""Heartbeat silence and lease expiry (spec.decisions.liveness)."""

from __future__ import annotations

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
