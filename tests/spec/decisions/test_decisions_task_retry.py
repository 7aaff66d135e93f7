"""The task retry decision (issue 12): attempts, error classes, backoff bounds with jitter and cap."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from spec.decisions.backoff import BackoffSchedule
from spec.decisions.task_retry import TaskRetryRules, error_class_of, retry_draw
from spec.policies import DEFAULT_POLICIES, BackoffPolicy, Policies, TaskRetryPolicy
from spec.task_policies import BACKOFF_RETRIED_CLASSES, MAX_TASK_ATTEMPTS
from spec.taxonomy import TAXONOMY, ErrorClass

backoffs = st.builds(
    lambda base, factor, extra, jitter: BackoffPolicy(base_delay_s=base, factor=factor, max_delay_s=base + extra,
                                                      jitter=jitter),
    st.floats(0.001, 10), st.floats(1, 4), st.floats(0, 60), st.floats(0, 1),
)
policies = st.builds(
    TaskRetryPolicy,
    max_attempts=st.integers(1, MAX_TASK_ATTEMPTS),
    retry_on=st.lists(st.sampled_from(list(ErrorClass)), unique=True).map(tuple),
)
class_names = st.one_of(st.sampled_from([c.value for c in ErrorClass]), st.text(max_size=12))


@given(policy=policies, backoff=backoffs, attempt=st.integers(1, 2 * MAX_TASK_ATTEMPTS), error_class=class_names,
       now=st.floats(0, 1e9), draw=st.floats(0, 1, exclude_max=True), task_id=st.text(min_size=1, max_size=20))
def test_a_failure_is_retried_exactly_when_its_class_is_listed_and_attempts_remain(
    policy: TaskRetryPolicy, backoff: BackoffPolicy, attempt: int, error_class: str, now: float, draw: float,
    task_id: str,
) -> None:
    rules = TaskRetryRules(policy, BackoffSchedule(backoff))
    decision = rules.decide(task_id=task_id, attempt=attempt, error_class=error_class, now=now, draw=draw)
    expected = error_class_of(error_class) in policy.retry_on and attempt < policy.max_attempts
    assert decision.retry is expected
    if not expected:
        assert decision.delay_s is None and decision.not_before is None
        return
    assert decision.delay_s is not None and decision.not_before == now + decision.delay_s
    low, high = BackoffSchedule(backoff).delay_range_s(attempt)
    assert low <= decision.delay_s <= high  # the jitter's spread around BackoffPolicy.delay_s(attempt) ...
    assert decision.delay_s <= backoff.max_delay_s  # ... capped, however far the jitter reaches
    assert decision.delay_s == BackoffSchedule(backoff).delay_s(attempt, draw)


@given(task_id=st.text(max_size=30), attempt=st.integers(1, MAX_TASK_ATTEMPTS))
def test_the_jitter_draw_is_in_range_and_fixed_by_task_and_attempt(task_id: str, attempt: int) -> None:
    draw = retry_draw(task_id, attempt)
    assert 0.0 <= draw < 1.0
    assert retry_draw(task_id, attempt) == draw


def test_without_an_explicit_draw_the_wait_is_the_tasks_own_draw() -> None:
    rules = TaskRetryRules(TaskRetryPolicy(max_attempts=3), BackoffSchedule(BackoffPolicy(jitter=0.5)))
    decision = rules.decide(task_id="t-1", attempt=1, error_class="network", now=10.0)
    assert decision.delay_s == BackoffSchedule(BackoffPolicy(jitter=0.5)).delay_s(1, retry_draw("t-1", 1))


def test_the_default_policy_never_retries_and_retries_the_taxonomys_backoff_classes_when_asked() -> None:
    rules = TaskRetryRules.from_policies()
    assert DEFAULT_POLICIES.task_retry.max_attempts == 1
    assert not rules.decide(task_id="t", attempt=1, error_class="network", now=0).retry
    assert BACKOFF_RETRIED_CLASSES == tuple(r.error_class for r in TAXONOMY if r.retries_with_backoff)
    for error_class in ErrorClass:
        decision = rules.decide(task_id="t", attempt=1, error_class=error_class, now=0, override={"max_attempts": 2})
        assert decision.retry is (error_class in BACKOFF_RETRIED_CLASSES), error_class


def test_an_override_replaces_only_the_fields_it_names() -> None:
    rules = TaskRetryRules.from_policies(Policies(task_retry=TaskRetryPolicy(max_attempts=2)))
    assert rules.effective(None) is rules.policy
    assert rules.effective({"retry_on": ["validation"]}) == TaskRetryPolicy(max_attempts=2,
                                                                           retry_on=(ErrorClass.VALIDATION,))
    assert rules.decide(task_id="t", attempt=1, error_class="validation", now=0,
                        override={"retry_on": ["validation"]}).retry


def test_a_class_the_taxonomy_does_not_know_is_unknown() -> None:
    assert error_class_of("cosmic-rays") is ErrorClass.UNKNOWN
    assert error_class_of("network") is ErrorClass.NETWORK


def test_the_reason_says_why_in_the_policys_words() -> None:
    rules = TaskRetryRules(TaskRetryPolicy(max_attempts=2), BackoffSchedule())
    assert "retry_on" in rules.decide(task_id="t", attempt=1, error_class="validation", now=0).reason
    assert "no attempts left" in rules.decide(task_id="t", attempt=2, error_class="network", now=0).reason
    assert "attempt 1 of 2" in rules.decide(task_id="t", attempt=1, error_class="network", now=0).reason


def test_attempts_start_at_one() -> None:
    with pytest.raises(ValueError, match="start at 1"):
        TaskRetryRules.from_policies().decide(task_id="t", attempt=0, error_class="network", now=0)


@pytest.mark.parametrize("fields", [{"max_attempts": 0}, {"max_attempts": MAX_TASK_ATTEMPTS + 1},
                                    {"retry_on": ["network", "network"]}, {"retry_on": ["nope"]}, {"retries": 3}])
def test_the_policy_refuses_bad_fields_by_name(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as info:
        TaskRetryPolicy.model_validate(fields)
    assert next(iter(fields)) in str(info.value)
