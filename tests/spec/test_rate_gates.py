"""`spec.rate_gates`: the token bucket and the progress gate the worker and orchestrator share."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spec.policies import ProgressPolicy
from spec.rate_gates import ProgressGate, ProgressGates, TokenBucket

gaps = st.lists(st.floats(0, 3, allow_nan=False), max_size=60)


@given(st.floats(0.1, 20), st.integers(1, 20), gaps)
def test_a_bucket_admits_at_most_burst_plus_rate_times_elapsed(rate: float, burst: int, steps: list[float]) -> None:
    bucket = TokenBucket(rate, burst, now=0.0)
    now, admitted = 0.0, 0
    for step in steps:
        now += step
        admitted += bucket.take(now).allowed
        assert admitted <= burst + math.floor(rate * now + 1e-9)


@given(st.floats(0.1, 20), st.integers(1, 5), st.integers(0, 30))
def test_a_refusal_names_the_wait_after_which_the_next_take_succeeds(rate: float, burst: int, extra: int) -> None:
    bucket = TokenBucket(rate, burst, now=0.0)
    for _ in range(burst):
        assert bucket.take(0.0).allowed
    for _ in range(extra):
        answer = bucket.take(0.0)
        assert not answer.allowed
        assert answer.retry_after_s == pytest.approx(1 / rate)
    refused = bucket.take(0.0)
    assert bucket.take(refused.retry_after_s * (1 + 1e-9)).allowed


def test_a_bucket_needs_a_positive_rate_and_burst() -> None:
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(0, 1, now=0.0)
    with pytest.raises(ValueError, match="burst >= 1"):
        TokenBucket(1, 0, now=0.0)


@given(st.lists(st.tuples(st.floats(0, 6, allow_nan=False), st.booleans()), max_size=60),
       st.lists(st.floats(0, 1), max_size=60))
def test_whatever_the_worker_gate_sends_the_orchestrator_gate_admits(
    steps: list[tuple[float, bool]], delays: list[float]
) -> None:
    """The worker's gate and the orchestrator's (with its slack) are one rule: a well-behaved
    worker is never refused, even when network delays squeeze its reports closer together."""
    policy = ProgressPolicy()
    worker, orchestrator = ProgressGate(policy), ProgressGates(policy)
    now, arrived = 0.0, 0.0
    for i, (step, milestone) in enumerate(steps):
        now += step
        if worker.admit(now, milestone).allowed:
            # Arrival may be late by up to a fraction of the slack, never earlier than the last arrival.
            delay = (delays[i] if i < len(delays) else 0.0) * policy.enforcement_slack * policy.milestone_min_gap_s
            arrived = max(arrived, now + delay)
            assert orchestrator.admit("t", arrived, milestone).allowed


@given(st.lists(st.tuples(st.floats(0, 0.2, allow_nan=False), st.booleans()), min_size=1, max_size=200))
def test_the_orchestrator_refuses_a_flood_and_names_a_wait(steps: list[tuple[float, bool]]) -> None:
    policy = ProgressPolicy()
    gates = ProgressGates(policy)
    now, admitted = 0.0, []
    for step, milestone in steps:
        now += step
        answer = gates.admit("t", now, milestone)
        if answer.allowed:
            admitted.append((now, milestone))
        else:
            assert answer.retry_after_s > 0
    milestone_gap = policy.milestone_min_gap_s * (1 - policy.enforcement_slack)
    times = [t for t, m in admitted if m]
    assert all(b - a >= milestone_gap - 1e-9 for a, b in zip(times, times[1:], strict=False))


def test_the_orchestrator_remembers_a_bounded_number_of_tasks() -> None:
    gates = ProgressGates(ProgressPolicy(), capacity=3)
    for task in "abcd":
        assert gates.admit(task, 0.0, False).allowed
    assert gates.admit("a", 0.0, False).allowed  # forgotten first, so admitted afresh
    assert not gates.admit("d", 0.0, False).allowed
