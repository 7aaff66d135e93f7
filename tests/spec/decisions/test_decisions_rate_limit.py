"""Retry-After waits and persistent-limit escalation (spec.decisions.rate_limit)."""

from __future__ import annotations

from spec.decisions.rate_limit import RateLimitCore
from spec.machines.rate_limit import RateLimitTrigger
from spec.policies import RateLimitPolicy


def test_the_wait_is_retry_after_or_the_default() -> None:
    core = RateLimitCore(RateLimitPolicy())
    with_header = core.limited(10.0, 7.0)
    assert (with_header.trigger, with_header.wait_s, with_header.deadline) == (
        RateLimitTrigger.LIMITED_WITH_RETRY_AFTER, 7.0, 17.0)
    without = core.limited(20.0, None)
    assert (without.trigger, without.wait_s) == (RateLimitTrigger.LIMITED_WITHOUT_RETRY_AFTER, 60.0)


def test_a_retry_after_beyond_max_retry_after_s_fails_at_once() -> None:
    core = RateLimitCore(RateLimitPolicy(max_retry_after_s=100.0))
    assert core.limited(0.0, 101.0).trigger is RateLimitTrigger.RETRY_AFTER_TOO_LONG


def test_a_limit_persisting_beyond_escalate_after_s_escalates() -> None:
    core = RateLimitCore(RateLimitPolicy(escalate_after_s=300.0))
    core.limited(0.0, 1.0)
    assert core.limited_again(300.0) is RateLimitTrigger.STILL_LIMITED
    assert core.limited_again(300.5) is RateLimitTrigger.LIMIT_PERSISTED
    core.answered()
    assert core.limited_for_s(1000.0) == 0.0
