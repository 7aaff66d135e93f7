"""Histogram buckets derived from the policies (spec.metrics, issue 13)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from spec.metrics import (
    KNOWN_TASK_TYPES,
    METRICS,
    OTHER_TASK_TYPE,
    call_duration_buckets,
    latency_quantile,
    longest_call_s,
    wait_buckets,
)
from spec.policies import DEFAULT_POLICIES, AlertPolicy, AlertRule, BackoffPolicy, Policies, RateLimitPolicy


def test_default_buckets_hold_the_threshold_and_the_longest_wait() -> None:
    buckets = call_duration_buckets()
    latency = DEFAULT_POLICIES.alerts.rule("HighLatencyP95")
    assert latency.threshold in buckets
    assert buckets[-1] == math.inf and buckets[-2] >= longest_call_s()
    backoff, limit = DEFAULT_POLICIES.backoff, DEFAULT_POLICIES.rate_limit
    assert longest_call_s() == sum(backoff.schedule()) + limit.max_retries * limit.max_retry_after_s
    assert list(buckets) == sorted(set(buckets))


@settings(max_examples=100, deadline=None)
@given(
    thresholds=st.lists(st.floats(min_value=0.001, max_value=500), min_size=1, max_size=3),
    max_delay=st.floats(min_value=1, max_value=600),
    retries=st.integers(0, 8),
    retry_after_cap=st.floats(min_value=1, max_value=7200),
)
def test_every_threshold_is_an_edge_and_the_top_covers_retries_and_waits(
    thresholds: list[float], max_delay: float, retries: int, retry_after_cap: float
) -> None:
    rules = tuple(
        AlertRule(name=f"P{i}", metric="latency_p95_seconds", threshold=t, for_s=0, summary="s", escalation_level=2)
        for i, t in enumerate(thresholds)
    )
    policies = Policies(
        backoff=BackoffPolicy(max_delay_s=max_delay, max_retries=retries),
        rate_limit=RateLimitPolicy(max_retry_after_s=retry_after_cap),
        alerts=AlertPolicy(rules=rules),
    )
    buckets = call_duration_buckets(policies)
    assert set(thresholds) <= set(buckets)
    assert max(buckets[:-1]) >= sum(policies.backoff.schedule()) + policies.rate_limit.max_retries * retry_after_cap
    assert list(buckets) == sorted(set(buckets)) and buckets[-1] == math.inf
    assert wait_buckets(policies)[-1] == math.inf


def test_declarations() -> None:
    assert latency_quantile("latency_p99_seconds") == 0.99 and latency_quantile("error_rate") is None
    assert OTHER_TASK_TYPE not in KNOWN_TASK_TYPES
    for metric in METRICS.values():
        assert metric.kind in {"counter", "gauge", "histogram"}
        assert metric.name.endswith("_total") == (metric.kind == "counter")
