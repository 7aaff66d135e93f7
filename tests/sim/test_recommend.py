"""The recommendations meet their own targets, and the runs behind them measure what they claim."""

from __future__ import annotations

import math

import pytest

from sim.erlang import erlang_c_wait
from sim.recommend import (
    Workload,
    false_detections_per_worker_hour,
    false_trips_per_hour,
    heartbeat_candidates,
    recommend_breaker,
    recommend_heartbeat,
    recommend_retry,
    recommend_workers,
    simulate_false_trips,
)
from spec.policies import DEFAULT_POLICIES, MIN_HEARTBEAT_TIMEOUT_INTERVALS

SMALL = Workload(simulated_tasks=1500, fleet_workers=6, fleet_hours=0.5)


def test_the_worker_count_is_the_smallest_meeting_the_target_and_the_simulation_agrees() -> None:
    advice = recommend_workers(SMALL)
    mu = 1 / SMALL.mean_task_s
    assert erlang_c_wait(advice.workers, SMALL.arrival_rate_per_s, mu) <= SMALL.target_queue_wait_s
    assert erlang_c_wait(advice.workers - 1, SMALL.arrival_rate_per_s, mu) > SMALL.target_queue_wait_s
    assert [c.workers for c in advice.checks] == [advice.workers - 1, advice.workers]
    fewer, enough = advice.checks
    assert fewer.simulated_wait_s > enough.simulated_wait_s
    assert enough.simulated_wait_s <= SMALL.target_queue_wait_s


def test_every_heartbeat_candidate_detects_within_the_target_and_passes_the_validator() -> None:
    candidates = heartbeat_candidates(SMALL)
    assert candidates
    for interval, timeout in candidates:
        assert interval + timeout <= SMALL.target_detection_s
        assert timeout >= MIN_HEARTBEAT_TIMEOUT_INTERVALS * interval


def test_false_detections_follow_consecutive_losses() -> None:
    # Three heartbeats in a row lost, 360 heartbeats an hour.
    assert false_detections_per_worker_hour(10, 30, 0.1) == pytest.approx(360 * 0.1**3)


def test_the_heartbeat_recommendation_is_within_budget_and_the_fleet_run_tells_it_from_the_default() -> None:
    advice = recommend_heartbeat(SMALL, DEFAULT_POLICIES)
    assert advice.interval_s + advice.timeout_s <= SMALL.target_detection_s
    assert false_detections_per_worker_hour(advice.interval_s, advice.timeout_s, SMALL.network_loss) <= \
        SMALL.false_detection_budget_per_worker_hour
    recommended, current = advice.runs
    assert (current.interval_s, current.timeout_s) == (DEFAULT_POLICIES.heartbeat.interval_s,
                                                       DEFAULT_POLICIES.heartbeat.timeout_s)
    # 20% loss is far beyond what the default was chosen for: the fleet run sees it.
    assert current.false_detections > recommended.false_detections
    for run in advice.runs:
        # From the crash (not from the last heartbeat, which may have been lost before it).
        assert run.detection_s is not None
        assert 0 < run.detection_s <= run.timeout_s + run.interval_s + 1


def test_the_breaker_threshold_is_the_smallest_within_budget_and_the_monte_carlo_run_is_close() -> None:
    w = Workload()
    advice = recommend_breaker(w, DEFAULT_POLICIES)
    rate = w.provider_calls_per_s * w.background_error_fraction
    assert false_trips_per_hour(advice.failure_threshold, advice.window_s, rate) <= w.false_trip_budget_per_hour
    assert false_trips_per_hour(advice.failure_threshold - 1, advice.window_s, rate) > w.false_trip_budget_per_hour
    assert advice.trip_s <= w.target_trip_s
    # At a threshold low enough to trip often, the estimate (an upper bound) and the run agree in size.
    hours = 20.0
    simulated = simulate_false_trips(6, advice.window_s, rate, hours, seed=3) / hours
    estimate = false_trips_per_hour(6, advice.window_s, rate)
    assert 0.3 * estimate <= simulated <= estimate * 1.2


def test_the_retry_budget_is_the_largest_under_the_provider_limit() -> None:
    w = Workload()
    advice = recommend_retry(w, DEFAULT_POLICIES)
    by_retries = {n: rate for n, rate, _ in advice.rows}
    assert by_retries[advice.max_retries] <= w.provider_limit_per_s < by_retries[advice.max_retries + 1]
    assert advice.success_probability == pytest.approx(1 - w.degraded_error_fraction ** (advice.max_retries + 1))
    assert math.isclose(by_retries[0], w.provider_calls_per_s)
