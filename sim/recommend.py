"""Workflow optimisation recommendations: policy values for a stated workload, each backed by a run.

Four questions, each answered from queueing theory or probability and then checked by running
a model:

* **Workers** for a target mean queue wait: the smallest worker count whose Erlang C wait meets
  the target, checked by the SimPy model (:func:`sim.erlang.measure`) at that count and one less.
* **Heartbeats** for a target detection time: a live worker is taken for dead when
  ``timeout_s / interval_s`` heartbeats in a row are lost, so under per-message loss ``p`` it
  happens about ``p ** (timeout_s / interval_s)`` times per heartbeat. The recommendation is the
  cheapest interval (fewest heartbeats) and the shortest timeout that keep worst-case detection
  (``timeout_s + interval_s``) within the target and false detections within a budget; the
  SimPy model runs a worker fleet under that loss with the recommended and the current policy.
* **Breaker** for a failure pattern (background errors at some rate, outages where every call
  fails): the smallest threshold whose window (the policy's ``window_s``) rarely holds that many
  background errors, provided an outage opens it within the target time; an open duration no
  longer than the extra wait accepted after the provider recovers (a trial finds out at most
  one open period late). A Monte Carlo run of the sliding window over Poisson errors counts the
  false trips.
* **Retry budget** against a provider's rate limit: the most retries whose extra attempts, at
  the stated failure rate, keep the fleet's calls under the limit.

The workload is stated in :class:`Workload`; policies not recommended are `spec.policies`'.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from sim.erlang import erlang_c_wait, measure
from sim.model import run_scenario
from sim.scenario import scenario_from_mapping
from spec.decisions.circuit_breaker import FailureWindow
from spec.injected_faults import InjectedFault
from spec.machines.worker_lifecycle import WorkerTrigger
from spec.policies import DEFAULT_POLICIES, MIN_HEARTBEAT_TIMEOUT_INTERVALS, Policies

HOUR_S = 3600.0


@dataclass(frozen=True)
class Workload:
    """The stated workload the recommendations are made for."""

    arrival_rate_per_s: float = 0.5
    mean_task_s: float = 20.0
    target_queue_wait_s: float = 5.0
    #: Tasks simulated per checked worker count (Erlang C check).
    simulated_tasks: int = 3000
    network_loss: float = 0.2
    target_detection_s: float = 60.0
    #: Acceptable false detections (a live worker taken for dead) per worker-hour.
    false_detection_budget_per_worker_hour: float = 0.01
    fleet_workers: int = 20
    fleet_hours: float = 1.0
    provider_calls_per_s: float = 2.0
    background_error_fraction: float = 0.02
    target_trip_s: float = 10.0
    #: Acceptable breaker openings per hour without an outage.
    false_trip_budget_per_hour: float = 0.01
    #: Longest extra wait, once the provider is back, before a trial call finds out.
    recovery_notice_s: float = 30.0
    typical_outage_s: float = 120.0
    provider_limit_per_s: float = 2.5
    degraded_error_fraction: float = 0.25
    seed: int = 1


@dataclass(frozen=True)
class WorkerCheck:
    workers: int
    formula_wait_s: float
    simulated_wait_s: float


@dataclass(frozen=True)
class WorkerAdvice:
    workers: int
    checks: list[WorkerCheck]
    curve: list[tuple[int, float]]


@dataclass(frozen=True)
class HeartbeatRun:
    label: str
    interval_s: float
    timeout_s: float
    estimated_per_worker_hour: float
    false_detections: int
    worker_hours: float
    detection_s: float | None

    @property
    def simulated_per_worker_hour(self) -> float:
        return self.false_detections / self.worker_hours


@dataclass(frozen=True)
class HeartbeatAdvice:
    interval_s: float
    timeout_s: float
    runs: list[HeartbeatRun]


@dataclass(frozen=True)
class BreakerAdvice:
    failure_threshold: int
    window_s: float
    open_duration_s: float
    estimated_false_trips_per_hour: float
    simulated_false_trips: int
    simulated_hours: float
    trip_s: float
    curve: list[tuple[int, float]]


@dataclass(frozen=True)
class RetryAdvice:
    max_retries: int
    attempts_per_s: float
    success_probability: float
    rows: list[tuple[int, float, float]]


@dataclass(frozen=True)
class Recommendations:
    workload: Workload
    policies: Policies
    workers: WorkerAdvice
    heartbeat: HeartbeatAdvice
    breaker: BreakerAdvice
    retry: RetryAdvice
    notes: list[str] = field(default_factory=list)


def recommend_workers(w: Workload) -> WorkerAdvice:
    """The smallest worker count whose Erlang C mean wait meets the target, simulated with one less."""
    offered = w.arrival_rate_per_s * w.mean_task_s
    service_rate = 1 / w.mean_task_s
    first = math.floor(offered) + 1
    curve = [(c, erlang_c_wait(c, w.arrival_rate_per_s, service_rate)) for c in range(first, first + 6)]
    workers = next(c for c, wait in curve if wait <= w.target_queue_wait_s)
    checks = []
    for c in (workers - 1, workers) if workers - 1 > offered else (workers,):
        row = measure(offered / c, workers=c, tasks=w.simulated_tasks, seed=w.seed, mean_service_s=w.mean_task_s)
        checks.append(WorkerCheck(c, row.formula_wait_s, row.simulated_wait_s))
    return WorkerAdvice(workers, checks, curve)


def false_detections_per_worker_hour(interval_s: float, timeout_s: float, loss: float) -> float:
    """About ``loss ** (timeout_s / interval_s)`` false detections per heartbeat sent."""
    return HOUR_S / interval_s * float(loss ** (timeout_s / interval_s))


def heartbeat_candidates(w: Workload) -> list[tuple[float, float]]:
    """(interval, timeout) pairs on a whole-second grid whose worst-case detection meets the target."""
    pairs = []
    for interval in range(1, int(w.target_detection_s // (MIN_HEARTBEAT_TIMEOUT_INTERVALS + 1)) + 1):
        for multiple in range(MIN_HEARTBEAT_TIMEOUT_INTERVALS, int(w.target_detection_s // interval)):
            if interval * (multiple + 1) <= w.target_detection_s:
                pairs.append((float(interval), float(interval * multiple)))
    return pairs


def _fleet_run(w: Workload, label: str, interval_s: float, timeout_s: float) -> HeartbeatRun:
    """A fleet under the stated loss for `fleet_hours`; worker 1 crashes halfway and never returns."""
    duration = w.fleet_hours * HOUR_S
    crash_at = duration / 2
    scenario = scenario_from_mapping({
        "name": f"heartbeat_{label}", "description": "Fleet under network loss, one crash.", "seed": w.seed,
        "duration_s": duration, "topology": {"workers": w.fleet_workers}, "workload": {"tasks": 0},
        "faults": [{"kind": InjectedFault.NETWORK_LOSS, "at": 0, "duration": duration,
                    "between": ["worker", "orchestrator"], "loss": w.network_loss},
                   {"kind": InjectedFault.WORKER_CRASH, "at": crash_at, "worker": 1}],
        "policies": {"heartbeat": {"interval_s": interval_s, "timeout_s": timeout_s}},
    }, source=f"recommend:{label}")
    run = run_scenario(scenario)
    missed = [e for e in run.entries
              if e.machine == "worker_lifecycle" and e.trigger == WorkerTrigger.HEARTBEATS_MISSED]
    crashed = [e.time - crash_at for e in missed if e.component == "worker:worker-1" and e.time >= crash_at]
    false = len(missed) - (1 if crashed else 0)
    # Worker 1 is not alive for the second half.
    worker_hours = (w.fleet_workers - 0.5) * w.fleet_hours
    return HeartbeatRun(label, interval_s, timeout_s,
                        false_detections_per_worker_hour(interval_s, timeout_s, w.network_loss),
                        false, worker_hours, crashed[0] if crashed else None)


def recommend_heartbeat(w: Workload, policies: Policies) -> HeartbeatAdvice:
    """Largest interval, then shortest timeout, within the detection target and the false-detection budget."""
    fitting = [(i, t) for i, t in heartbeat_candidates(w)
               if false_detections_per_worker_hour(i, t, w.network_loss) <= w.false_detection_budget_per_worker_hour]
    if not fitting:
        raise ValueError("no heartbeat policy meets both the detection target and the false-detection budget")
    interval, timeout = min(fitting, key=lambda p: (-p[0], p[1]))
    current = policies.heartbeat
    runs = [_fleet_run(w, "recommended", interval, timeout),
            _fleet_run(w, "current", current.interval_s, current.timeout_s)]
    return HeartbeatAdvice(interval, timeout, runs)


def _poisson_tail(mean: float, at_least: int) -> float:
    term, below = math.exp(-mean), 0.0
    for k in range(at_least):
        below += term
        term *= mean / (k + 1)
    return max(0.0, 1.0 - below)


def false_trips_per_hour(threshold: int, window_s: float, error_rate_per_s: float) -> float:
    """Errors per hour that find `threshold` - 1 others in the window before them (an upper estimate)."""
    return HOUR_S * error_rate_per_s * _poisson_tail(error_rate_per_s * window_s, threshold - 1)


def simulate_false_trips(threshold: int, window_s: float, error_rate_per_s: float, hours: float, seed: int) -> int:
    """Openings of a sliding-window breaker fed Poisson background errors (re-armed at once after a trip)."""
    rng = random.Random(seed)
    now, trips = 0.0, 0
    recent = FailureWindow(window_s)  # the breaker's own window rule
    while True:
        now += rng.expovariate(error_rate_per_s)
        if now >= hours * HOUR_S:
            return trips
        if recent.add(now) >= threshold:
            trips += 1
            recent.clear()


def recommend_breaker(w: Workload, policies: Policies) -> BreakerAdvice:
    """Smallest threshold that opens within the target during an outage and rarely without one."""
    error_rate = w.provider_calls_per_s * w.background_error_fraction
    window = policies.circuit_breaker.window_s
    curve = [(k, false_trips_per_hour(k, window, error_rate)) for k in range(1, 16)]
    threshold = next((k for k, rate in curve if rate <= w.false_trip_budget_per_hour), curve[-1][0])
    trip_s = threshold / w.provider_calls_per_s
    if trip_s > w.target_trip_s:
        raise ValueError(f"at {w.provider_calls_per_s} calls/s no threshold opens within {w.target_trip_s} s")
    hours = 200.0
    simulated = simulate_false_trips(threshold, window, error_rate, hours, w.seed)
    # The breaker learns of a recovery at its next trial: at most one open period late.
    return BreakerAdvice(threshold, window, w.recovery_notice_s,
                         false_trips_per_hour(threshold, window, error_rate), simulated, hours, trip_s, curve)


def recommend_retry(w: Workload, policies: Policies) -> RetryAdvice:
    """Most retries whose attempts at the degraded failure rate stay under the provider's limit."""
    rows = []
    for retries in range(0, max(8, policies.backoff.max_retries + 2)):
        attempts = sum(w.degraded_error_fraction ** i for i in range(retries + 1))
        rows.append((retries, w.provider_calls_per_s * attempts, 1 - w.degraded_error_fraction ** (retries + 1)))
    fitting = [r for r in rows if r[1] <= w.provider_limit_per_s]
    best = fitting[-1] if fitting else rows[0]
    return RetryAdvice(best[0], best[1], best[2], rows)


def recommend(w: Workload | None = None, policies: Policies = DEFAULT_POLICIES) -> Recommendations:
    """All four recommendations for `w` (default: the stated workload) against `policies`."""
    w = w or Workload()
    return Recommendations(w, policies, recommend_workers(w), recommend_heartbeat(w, policies),
                           recommend_breaker(w, policies), recommend_retry(w, policies))
