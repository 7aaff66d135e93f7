"""The value of each alert rule's spec metric, computed from scraped series as its PromQL does.

``spec.render.prometheus_rules`` writes one PromQL expression per spec metric; this module
computes the same expression over a :class:`~spec.decisions.promql.ScrapedSeries`, so the
orchestrator's own evaluation (``runtime.monitoring``) and a Prometheus server loading the
generated rules see the same series with the same values. The expressions, side by side:

==========================  =================================================================
``error_rate``              ``sum by (service, operation) (rate(calls{outcome="error"}[w]))
                            / sum by (service, operation) (rate(calls{outcome!="fast_fail"}[w]))``
``latency_pNN_seconds``     ``histogram_quantile(0.NN, sum by (service, operation, le)
                            (rate(call_duration_bucket[w])))``
``circuit_breaker_open``    ``max by (service) (breaker_state{state="open"})``
``resource_utilisation``    ``max by (worker_id, resource) (resource_utilisation)``
``task_failure_rate``       ``sum by (task_type) (rate(tasks_finished{outcome!="complete"}[w]))
                            / sum by (task_type) (rate(tasks_finished[w]))``
``workers_down``            ``sum(workers{state="unhealthy"})``
``memory_growth``           ``max by (process) (memory_growth)``
==========================  =================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable

from spec.decisions.promql import (
    Labels,
    ScrapedSeries,
    divide,
    histogram_quantile,
    matching,
    max_by,
    sum_by,
)
from spec.machines.circuit_breaker import BreakerState
from spec.machines.task_lifecycle import TaskTrigger
from spec.machines.worker_lifecycle import WorkerState
from spec.metrics import (
    BREAKER_STATE,
    CALL_DURATION,
    CALLS,
    ERROR,
    FAST_FAIL,
    MEMORY_GROWTH,
    RESOURCE_UTILISATION,
    TASKS_FINISHED,
    WORKERS,
    latency_quantile,
)
from spec.policies import AlertPolicy

#: The breaker state the ``circuit_breaker_open`` metric reads.
BREAKER_OPEN = BreakerState.OPEN
#: The task trigger that counts as success for ``task_failure_rate``; every other ending fails.
TASK_SUCCESS = TaskTrigger.COMPLETE
#: The worker state ``workers_down`` counts: heartbeats missed (or reported unhealthy).
WORKER_DOWN = WorkerState.UNHEALTHY

Vector = dict[Labels, float]
_CALL_KEY = ("service", "operation")


class UnknownMetricError(KeyError):
    """An alert rule reads a spec metric nothing computes."""


def _without(vector: Vector, label: str, value: str) -> Vector:
    return {k: v for k, v in vector.items() if dict(k).get(label) != value}


def error_rate(store: ScrapedSeries, now: float, window_s: float) -> Vector:
    rates = store.rate(CALLS, now, window_s)
    errors = sum_by(matching(rates, outcome=ERROR), _CALL_KEY)
    attempted = sum_by(_without(rates, "outcome", FAST_FAIL), _CALL_KEY)
    return divide(errors, attempted)


def latency(quantile: float) -> Callable[[ScrapedSeries, float, float], Vector]:
    def compute(store: ScrapedSeries, now: float, window_s: float) -> Vector:
        rates = sum_by(store.rate(CALL_DURATION + "_bucket", now, window_s), (*_CALL_KEY, "le"))
        histograms: dict[Labels, list[tuple[float, float]]] = {}
        for labels, value in rates.items():
            have = dict(labels)
            key = tuple((k, v) for k, v in labels if k != "le")
            histograms.setdefault(key, []).append((float(have.get("le", "nan")), value))
        out: Vector = {}
        for key, buckets in histograms.items():
            value = histogram_quantile(quantile, buckets)
            if not math.isnan(value):
                out[key] = value
        return out

    return compute


def breaker_open(store: ScrapedSeries, now: float, window_s: float) -> Vector:
    return max_by(matching(store.latest(BREAKER_STATE, now), state=BREAKER_OPEN), ("service",))


def resource_utilisation(store: ScrapedSeries, now: float, window_s: float) -> Vector:
    return max_by(store.latest(RESOURCE_UTILISATION, now), ("worker_id", "resource"))


def task_failure_rate(store: ScrapedSeries, now: float, window_s: float) -> Vector:
    rates = store.rate(TASKS_FINISHED, now, window_s)
    failed = sum_by(_without(rates, "outcome", TASK_SUCCESS), ("task_type",))
    return divide(failed, sum_by(rates, ("task_type",)))


def memory_growth(store: ScrapedSeries, now: float, window_s: float) -> Vector:
    return max_by(store.latest(MEMORY_GROWTH, now), ("process",))


def workers_down(store: ScrapedSeries, now: float, window_s: float) -> Vector:
    down = matching(store.latest(WORKERS, now), state=WORKER_DOWN)
    return sum_by(down, ()) if down else {}


_QUERIES: dict[str, Callable[[ScrapedSeries, float, float], Vector]] = {
    "error_rate": error_rate,
    "circuit_breaker_open": breaker_open,
    "resource_utilisation": resource_utilisation,
    "task_failure_rate": task_failure_rate,
    "workers_down": workers_down,
    "memory_growth": memory_growth,
}


def query_for(metric: str) -> Callable[[ScrapedSeries, float, float], Vector]:
    """The computation of spec metric `metric` (``UnknownMetricError`` naming the known ones)."""
    quantile = latency_quantile(metric)
    if quantile is not None:
        return latency(quantile)
    try:
        return _QUERIES[metric]
    except KeyError:
        known = ", ".join([*_QUERIES, "latency_pNN_seconds"])
        raise UnknownMetricError(f"alert rule metric {metric!r} has no query; known metrics: {known}") from None


def rule_vectors(policy: AlertPolicy, store: ScrapedSeries, now: float) -> dict[str, Vector]:
    """Every spec metric the policy's rules read, evaluated at `now` over ``policy.rate_window_s``."""
    return {m: query_for(m)(store, now, policy.rate_window_s) for m in dict.fromkeys(r.metric for r in policy.rules)}


#: Scraped series the queries read (histograms by their ``_bucket`` samples).
SCRAPED = (CALLS, CALL_DURATION + "_bucket", BREAKER_STATE, RESOURCE_UTILISATION, TASKS_FINISHED, WORKERS,
           MEMORY_GROWTH)

__all__ = [
    "BREAKER_OPEN",
    "SCRAPED",
    "TASK_SUCCESS",
    "WORKER_DOWN",
    "UnknownMetricError",
    "query_for",
    "rule_vectors",
]
