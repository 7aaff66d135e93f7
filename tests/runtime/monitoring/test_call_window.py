"""Call outcomes become the error-rate and latency samples the alert rules read."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.monitoring import FIRING, AlertEvaluator, CallWindow
from spec.policies import DEFAULT_POLICIES

ERROR_RATE = DEFAULT_POLICIES.alerts.rule("HighErrorRate")
LATENCY = DEFAULT_POLICIES.alerts.rule("HighLatencyP95")


def test_samples_per_service_and_operation() -> None:
    window = CallWindow(window_s=10)
    for i in range(20):
        window.record(service="ai", operation="analyze", ok=i % 4 != 0, duration_s=i / 10, at=float(i) / 2)
    window.record(service="git", operation="push", ok=True, duration_s=0.1, at=9.5)
    samples = {(s.metric, s.labels["service"]): s for s in window.samples(at=9.5)}
    assert samples[(ERROR_RATE.metric, "ai")].value == 5 / 20
    assert samples[(LATENCY.metric, "ai")].value == 1.8  # nearest rank 19 of 0.0 .. 1.9
    assert samples[(ERROR_RATE.metric, "git")].value == 0.0
    # Later, only the calls still inside the window count.
    later = {(s.metric, s.labels["service"]): s.value for s in window.samples(at=15.0)}
    assert later[(ERROR_RATE.metric, "ai")] == 2 / 9  # calls 11..19 are inside (5, 15]; 12 and 16 failed
    assert (ERROR_RATE.metric, "git") in later
    assert {(s.metric, s.labels["service"]) for s in window.samples(at=100.0)} == set()
    with pytest.raises(ValueError, match="window_s"):
        CallWindow(window_s=0)


def test_window_feeds_the_evaluator_until_the_error_rate_alert_fires() -> None:
    window = CallWindow(window_s=30)
    evaluator = AlertEvaluator()
    fired_at = None
    t = 0.0
    while t <= ERROR_RATE.for_s + 60 and fired_at is None:
        window.record(service="ai", operation="analyze", ok=False, duration_s=0.01, at=t)
        for sample in window.samples(at=t):
            for change in evaluator.observe_sample(sample):
                if change.dest == FIRING:
                    fired_at = t
        t += 5
    assert fired_at == ERROR_RATE.for_s


@settings(max_examples=60, deadline=None)
@given(
    calls=st.lists(
        st.tuples(st.floats(min_value=0, max_value=100), st.booleans(), st.floats(min_value=0, max_value=10)),
        min_size=1,
        max_size=50,
    ),
    window_s=st.sampled_from([1.0, 10.0, 60.0]),
)
def test_matches_a_brute_force_reference(calls: list[tuple[float, bool, float]], window_s: float) -> None:
    calls.sort(key=lambda c: c[0])
    window = CallWindow(window_s=window_s)
    for at, ok, duration in calls:
        window.record(service="s", operation="o", ok=ok, duration_s=duration, at=at)
    now = calls[-1][0]
    recent = [c for c in calls if now - window_s < c[0] <= now]
    got = {s.metric: s.value for s in window.samples(at=now)}
    assert got[ERROR_RATE.metric] == sum(1 for c in recent if not c[1]) / len(recent)
    durations = sorted(c[2] for c in recent)
    p95 = durations[max(1, math.ceil(0.95 * len(durations))) - 1]
    assert got[LATENCY.metric] == p95
