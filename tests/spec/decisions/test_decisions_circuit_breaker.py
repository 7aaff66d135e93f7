"""The breaker core's rules, at their boundaries (spec.decisions.circuit_breaker)."""

from __future__ import annotations

import pytest

from spec.decisions.circuit_breaker import BreakerCore, FailureWindow
from spec.machines.circuit_breaker import BreakerState, BreakerTrigger
from spec.policies import CircuitBreakerPolicy

POLICY = CircuitBreakerPolicy(failure_threshold=3, window_s=60.0, open_duration_s=300.0)


def _fail(core: BreakerCore, now: float) -> BreakerTrigger | None:
    return core.record(core.admit(now), now, counts_as_failure=True)


def test_a_failure_exactly_window_s_old_has_left_the_window() -> None:
    """Disagreement 1: the window is (now - window_s, now]."""
    window = FailureWindow(60.0)
    window.add(0.0)
    assert window.count(59.999) == 1
    assert window.count(60.0) == 0


@pytest.mark.parametrize(("third_at", "expected"), [(60.0, BreakerTrigger.RECORD_FAILURE),
                                                    (59.999, BreakerTrigger.TRIP)])
def test_trip_counts_only_failures_inside_the_window(third_at: float, expected: BreakerTrigger) -> None:
    core = BreakerCore(POLICY)
    assert _fail(core, 0.0) is BreakerTrigger.RECORD_FAILURE
    assert _fail(core, 30.0) is BreakerTrigger.RECORD_FAILURE
    assert _fail(core, third_at) is expected


def test_open_rejects_until_the_open_duration_then_probes() -> None:
    core = BreakerCore(POLICY)
    for t in (0.0, 1.0, 2.0):
        _fail(core, t)
    assert core.state is BreakerState.OPEN and core.next_deadline() == 302.0
    rejected = core.admit(301.5)
    assert (rejected.admitted, rejected.trigger, rejected.retry_in_s) == (False, BreakerTrigger.REJECT, 0.5)
    probe = core.admit(302.0)
    assert (probe.admitted, probe.trigger, probe.trial) == (True, BreakerTrigger.PROBE, True)


def test_half_open_admits_up_to_half_open_max_trials() -> None:
    """Disagreement 3: extra trials ride on the probe; one more is rejected."""
    core = BreakerCore(POLICY.model_copy(update={"half_open_max_trials": 2}))
    core.force_open(0.0)
    first, second, third = core.admit(300.0), core.admit(300.0), core.admit(300.0)
    assert (first.trigger, first.admitted) == (BreakerTrigger.PROBE, True)
    assert (second.trigger, second.admitted, second.trial) == (None, True, True)
    assert (third.trigger, third.admitted) == (BreakerTrigger.REJECT_DURING_TRIAL, False)
    assert core.record(second, 301.0, counts_as_failure=False) is BreakerTrigger.TRIAL_SUCCEEDED
    assert core.record(first, 302.0, counts_as_failure=True) is None  # stale: the cycle has moved on


def test_an_outcome_that_does_not_count_is_a_success_of_the_service() -> None:
    """Disagreement 2: an answer of a healthy service (rate limit, rejected credentials) is no failure."""
    core = BreakerCore(POLICY)
    assert core.record(core.admit(0.0), 0.0, counts_as_failure=False) is BreakerTrigger.RECORD_SUCCESS
    core.force_open(0.0)
    trial = core.admit(300.0)
    assert core.record(trial, 300.0, counts_as_failure=False) is BreakerTrigger.TRIAL_SUCCEEDED


def test_an_abandoned_trial_reopens_without_restarting_the_open_duration() -> None:
    core = BreakerCore(POLICY)
    core.force_open(0.0)
    trial = core.admit(300.0)
    assert core.abandon(trial) is BreakerTrigger.TRIAL_ABANDONED
    assert core.admit(300.5).trigger is BreakerTrigger.PROBE


def test_an_outcome_admitted_before_a_trip_is_stale() -> None:
    core = BreakerCore(POLICY)
    early = core.admit(0.0)
    core.force_open(1.0)
    assert core.record(early, 2.0, counts_as_failure=True) is None
