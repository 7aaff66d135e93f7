"""Backoff delays with jitter and cap, and one call's retry decisions (spec.decisions.backoff)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from spec.decisions.backoff import BackoffSchedule, RetryCore
from spec.machines.retry import RetryTrigger
from spec.policies import BackoffPolicy


def test_default_schedule_is_the_seeds() -> None:
    schedule = BackoffSchedule(BackoffPolicy())
    assert [schedule.delay_s(n) for n in (1, 2, 3)] == [1.0, 2.0, 4.0]


@given(retry=st.integers(1, 2000), draw=st.floats(0.0, 1.0), jitter=st.floats(0.0, 1.0))
def test_a_jittered_delay_never_exceeds_max_delay_s_and_stays_in_its_range(retry: int, draw: float,
                                                                             jitter: float) -> None:
    """Disagreement 6: one jitter rule, capped, and the range a checker accepts contains every draw."""
    schedule = BackoffSchedule(BackoffPolicy(jitter=jitter))
    delay = schedule.delay_s(retry, draw)
    low, high = schedule.delay_range_s(retry)
    assert 0.0 <= low <= delay <= high <= schedule.policy.max_delay_s


def test_a_jittered_delay_at_the_cap_is_capped() -> None:
    schedule = BackoffSchedule(BackoffPolicy(jitter=0.5, max_retries=10))
    assert schedule.delay_s(10, 1.0) == 30.0
    assert schedule.delay_range_s(10) == (15.0, 30.0)


def test_registration_waits_the_backoff_schedule_unjittered() -> None:
    """Disagreement 7: registrations back off on BackoffPolicy, never on the idle-poll wait."""
    schedule = BackoffSchedule(BackoffPolicy(jitter=0.5))
    assert [schedule.registration_delay_s(n) for n in (1, 2, 3, 10)] == [1.0, 2.0, 4.0, 30.0]


def test_one_call_retries_max_retries_times_then_gives_up() -> None:
    core = RetryCore(BackoffSchedule(BackoffPolicy()))
    assert core.started() is RetryTrigger.ATTEMPT
    decisions = []
    now = 0.0
    for _ in range(3):
        decision = core.failed(now, retryable=True)
        assert decision.deadline is not None
        decisions.append((decision.trigger, decision.delay_s, decision.deadline - now))
        now = decision.deadline
        core.retried()
    assert decisions == [(RetryTrigger.FAIL_RETRYABLE, d, d) for d in (1.0, 2.0, 4.0)]
    assert core.failed(now, retryable=True).trigger is RetryTrigger.GIVE_UP


def test_a_non_retryable_error_is_not_retried() -> None:
    core = RetryCore(BackoffSchedule(BackoffPolicy()))
    core.started()
    decision = core.failed(0.0, retryable=False)
    assert (decision.trigger, decision.deadline) == (RetryTrigger.FAIL_PERMANENT, None)
