"""Policies carry the seed's values and reject bad ones with the field's name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from spec.policies import (
    DEFAULT_POLICIES,
    GIB,
    AlertPolicy,
    BackoffPolicy,
    CircuitBreakerPolicy,
    HeartbeatPolicy,
    Policies,
    PollPolicy,
    RateLimitPolicy,
    StartupPolicy,
)


def test_default_backoff_schedule_is_exactly_1_2_4_seconds() -> None:
    assert DEFAULT_POLICIES.backoff.schedule() == [1.0, 2.0, 4.0]
    assert DEFAULT_POLICIES.backoff.max_delay_s == 30.0


def test_seed_values() -> None:
    p = DEFAULT_POLICIES
    assert (p.rate_limit.default_delay_s, p.rate_limit.max_retries, p.rate_limit.escalate_after_s) == (60, 1, 300)
    cb = p.circuit_breaker
    assert (cb.failure_threshold, cb.window_s, cb.open_duration_s, cb.half_open_max_trials) == (5, 60, 300, 1)
    s = p.startup
    assert (s.config_timeout_s, s.database_timeout_s, s.services_timeout_s, s.health_check_timeout_s,
            s.total_timeout_s, s.database_attempts) == (10, 30, 60, 30, 120, 3)
    assert s.database_retry_delays_s() == [1.0, 2.0]
    assert p.progress.interval_s == 5
    r = p.resources
    assert (r.memory_bytes, r.cpu_cores, r.disk_bytes, r.network_bits_per_s, r.max_duration_s) == (
        4 * GIB, 2, 10 * GIB, 1_000_000_000, 1800)
    rules = {rule.name: rule for rule in p.alerts.rules}
    assert (rules["HighErrorRate"].threshold, rules["HighErrorRate"].for_s) == (0.05, 300)
    assert (rules["HighLatencyP95"].threshold, rules["HighLatencyP95"].for_s) == (2.0, 300)
    assert (rules["HighResourceUtilisation"].threshold, rules["HighResourceUtilisation"].for_s) == (0.9, 600)
    assert [e.level for e in p.alerts.escalation_levels] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        (BackoffPolicy, "base_delay_s", -1),
        (BackoffPolicy, "factor", 0.5),
        (BackoffPolicy, "max_retries", -1),
        (RateLimitPolicy, "default_delay_s", 0),
        (CircuitBreakerPolicy, "failure_threshold", 0),
        (CircuitBreakerPolicy, "window_s", -5),
        (StartupPolicy, "database_attempts", 0),
        (HeartbeatPolicy, "interval_s", 0),
        (PollPolicy, "long_poll_s", 600),
    ],
)
def test_bad_values_name_the_field(model: type, field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        model(**{field: value})
    assert field in str(info.value)


def test_unknown_fields_are_rejected() -> None:
    with pytest.raises(ValidationError, match="max_retrys"):
        BackoffPolicy(max_retrys=3)  # type: ignore[call-arg]


def test_cross_field_rules() -> None:
    with pytest.raises(ValidationError, match="timeout_s"):
        HeartbeatPolicy(interval_s=10, timeout_s=15)
    with pytest.raises(ValidationError, match="total_timeout_s"):
        StartupPolicy(total_timeout_s=20)
    with pytest.raises(ValidationError, match="max_delay_s"):
        BackoffPolicy(base_delay_s=10, max_delay_s=5)
    with pytest.raises(ValidationError, match="escalation_levels"):
        AlertPolicy(escalation_levels=())


def test_policies_nest_and_validate_from_dicts() -> None:
    p = Policies.model_validate({"heartbeat": {"interval_s": 0.2, "timeout_s": 0.6}})
    assert p.heartbeat.detection_window_s() == pytest.approx((0.6, 0.8))
    with pytest.raises(ValidationError, match=r"heartbeat\.interval_s|interval_s"):
        Policies.model_validate({"heartbeat": {"interval_s": -1}})


def test_rate_limit_wait() -> None:
    rl = DEFAULT_POLICIES.rate_limit
    assert rl.wait_s(7.0) == 7.0
    assert rl.wait_s(None) == 60.0
    assert RateLimitPolicy(honour_retry_after=False).wait_s(7.0) == 60.0


def test_poll_idle_backoff_is_capped() -> None:
    poll = DEFAULT_POLICIES.poll
    waits = [poll.idle_wait_s(n) for n in range(1, 10)]
    assert waits[0] == poll.min_interval_s and max(waits) == poll.max_interval_s
    assert waits == sorted(waits)


@given(
    base=st.floats(0.001, 100), factor=st.floats(1, 10), cap_extra=st.floats(0, 1000), retries=st.integers(0, 20)
)
def test_schedule_is_monotone_capped_and_sized(base: float, factor: float, cap_extra: float, retries: int) -> None:
    policy = BackoffPolicy(base_delay_s=base, factor=factor, max_delay_s=base + cap_extra, max_retries=retries)
    schedule = policy.schedule()
    assert len(schedule) == retries
    assert all(a <= b for a, b in zip(schedule, schedule[1:], strict=False))
    assert all(base <= d <= policy.max_delay_s for d in schedule)
    assert [policy.should_retry(n) for n in range(retries + 1)] == [True] * retries + [False]


def test_delay_rejects_retry_zero() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        DEFAULT_POLICIES.backoff.delay_s(0)


@given(n=st.integers(0, 10**9))
def test_idle_and_retry_waits_never_overflow_and_stay_capped(n: int) -> None:
    """Idle and failed polls are counted for as long as they last (a week idle is ~10^5 polls)."""
    poll, backoff = DEFAULT_POLICIES.poll, DEFAULT_POLICIES.backoff
    assert poll.min_interval_s <= poll.idle_wait_s(n) <= poll.max_interval_s
    assert poll.idle_wait_s(n) <= poll.idle_wait_s(n + 1)
    assert backoff.base_delay_s <= backoff.delay_s(n + 1) <= backoff.max_delay_s
    assert backoff.delay_s(n + 1) <= backoff.delay_s(n + 2)
