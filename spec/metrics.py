"""Names of the series the runtime exports on ``/metrics`` (seed 4.5, "Real-time Monitoring").

Written once here and read by both sides: the orchestrator registers its Prometheus families
from :data:`METRICS` (``runtime.monitoring.metrics``), and ``spec.render.prometheus_rules``
writes alerting rules over the same names, so the two can never drift apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from spec.policies import DEFAULT_POLICIES, Policies


@dataclass(frozen=True)
class PrometheusMetric:
    """One series the runtime exports on ``/metrics`` (names shared by the runtime and the rules)."""

    name: str
    kind: str  # counter, gauge or histogram
    labels: tuple[str, ...]
    help: str


CALLS = "orchestration_external_calls_total"
CALL_DURATION = "orchestration_external_call_duration_seconds"
CALL_ERRORS = "orchestration_external_call_errors_total"
BREAKER_STATE = "orchestration_circuit_breaker_state"
RETRIES = "orchestration_retries_total"
QUEUE_DEPTH = "orchestration_queue_depth"
WORKERS = "orchestration_workers"
TASK_DURATION = "orchestration_task_duration_seconds"
RESOURCE_UTILISATION = "orchestration_resource_utilisation_ratio"
MEMORY_GROWTH = "orchestration_memory_growth_ratio"
HTTP_REQUESTS = "orchestration_http_requests_total"
HTTP_REQUEST_DURATION = "orchestration_http_request_duration_seconds"
ALERTS_FIRING = "orchestration_alerts_firing"
BUILD_INFO = "orchestration_build_info"
TASKS_FINISHED = "orchestration_tasks_finished_total"
TASK_FAILURES = "orchestration_task_failures_total"
QUEUE_WAIT = "orchestration_task_queue_wait_seconds"
LEASE_EXPIRIES = "orchestration_lease_expiries_total"
REQUEUES = "orchestration_task_requeues_total"
UNROUTABLE_TASKS = "orchestration_tasks_unroutable"

#: How far back one evaluation of a call metric looks by default (``AlertPolicy.rate_window_s``).
#: How long a breach must last is the rule's ``for_s``, not this.
RATE_WINDOW_S = DEFAULT_POLICIES.alerts.rate_window_s

#: Outcomes of one external call: it succeeded, it failed after its retries, or the open breaker
#: refused it without calling (its own outcome, so one incident fires the breaker alert, not also
#: the error-rate alert).
CALL_OUTCOMES = ("success", "error", "fast_fail")
SUCCESS, ERROR, FAST_FAIL = CALL_OUTCOMES

#: The ``service`` label of the AI-coding workflow's two external services, whatever provider
#: stands behind them (the provider kind is not a label: it would multiply series per deployment).
AI_PROVIDER_SERVICE = "ai-provider"
GIT_PLATFORM_SERVICE = "git-platform"

#: External services and their operations known in advance: their call counters exist at zero from
#: the start, so ``rate()`` sees the very first error (a child created by its first ``inc()`` has
#: no earlier sample to rise from). Other services get their children at their first call. The
#: operations are the workflow's provider methods, the names the workers' telemetry reports.
KNOWN_CALLS: Mapping[str, tuple[str, ...]] = {
    AI_PROVIDER_SERVICE: ("analyze", "generate_code"),
    GIT_PLATFORM_SERVICE: ("get_issue", "clone", "create_branch", "commit", "push", "open_pull_request"),
}

#: Task types with their own ``task_type`` label value (the built-in worker handlers and the AI
#: coding workflow); every other type a client submits is counted as :data:`OTHER_TASK_TYPE`, so
#: clients cannot grow the registry without bound.
KNOWN_TASK_TYPES = ("noop", "sleep", "shell", "ai_coding")
OTHER_TASK_TYPE = "other"

#: Edges every duration histogram starts from (seconds); thresholds and policy waits are added.
BASE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
                600.0, 1800.0, 3600.0)


def latency_quantile(metric: str) -> float | None:
    """``latency_p95_seconds`` → 0.95; ``None`` for any other spec metric name."""
    middle = metric.removeprefix("latency_p").removesuffix("_seconds")
    if metric.startswith("latency_p") and metric.endswith("_seconds") and middle.isascii() and middle.isdigit():
        return int(middle) / 100
    return None


def longest_call_s(policies: Policies = DEFAULT_POLICIES) -> float:
    """Longest time one call can spend waiting on top of its attempts: every backoff delay and every
    rate-limit wait (the longest Retry-After honoured, or the default delay when none is given)."""
    limit = policies.rate_limit
    longest_wait = max(limit.default_delay_s, limit.max_retry_after_s if limit.honour_retry_after else 0.0)
    return sum(policies.backoff.schedule()) + limit.max_retries * longest_wait


def call_duration_buckets(policies: Policies = DEFAULT_POLICIES) -> tuple[float, ...]:
    """Bucket edges of the call-duration histogram, derived from `policies`.

    Each latency rule's threshold is an edge, so ``histogram_quantile`` decides "above the
    threshold" exactly (interpolation inside a bucket straddling the threshold would not), and the
    last finite edge covers :func:`longest_call_s`, so waits are measured, not lumped into ``+Inf``.
    """
    thresholds = {r.threshold for r in policies.alerts.rules if latency_quantile(r.metric) is not None}
    top = longest_call_s(policies)
    edges = {b for b in BASE_BUCKETS if b < top} | {t for t in thresholds if t > 0} | {top}
    return (*sorted(edges), math.inf)


def wait_buckets(policies: Policies = DEFAULT_POLICIES) -> tuple[float, ...]:
    """Bucket edges of the queue-wait histogram: the base edges up to the aging of a task to top priority."""
    lease = policies.lease
    top = max(lease.aging_interval_s * lease.max_priority, BASE_BUCKETS[-1])
    return (*sorted({*BASE_BUCKETS, top}), math.inf)

#: Every series the alert rules read, and the other seed 4.5 "Real-time Monitoring" series, by role.
METRICS: Mapping[str, PrometheusMetric] = {
    m.name: m
    for m in (
        PrometheusMetric(
            CALLS,
            "counter",
            ("service", "operation", "outcome"),
            "Calls to external services after retries; outcome is 'success', 'error' or 'fast_fail' "
            "(refused by an open breaker).",
        ),
        PrometheusMetric(
            CALL_ERRORS,
            "counter",
            ("service", "operation", "error_class"),
            "Calls that failed after their retries, by the taxonomy's error class of the last failure.",
        ),
        PrometheusMetric(
            CALL_DURATION,
            "histogram",
            ("service", "operation"),
            "Duration of calls to external services, retries and waits included; calls an open breaker "
            "refused are not timed.",
        ),
        PrometheusMetric(
            BREAKER_STATE,
            "gauge",
            ("service", "state"),
            "1 for the breaker's current state, 0 for the others.",
        ),
        PrometheusMetric(
            RETRIES,
            "counter",
            ("service", "error_class"),
            "Retries made by the retry handler.",
        ),
        PrometheusMetric(QUEUE_DEPTH, "gauge", (), "Tasks waiting in the queue."),
        PrometheusMetric(WORKERS, "gauge", ("state",), "Registered workers by lifecycle state."),
        PrometheusMetric(
            TASK_DURATION,
            "histogram",
            ("task_type", "outcome"),
            "Task execution time from start to completion, failure or timeout.",
        ),
        PrometheusMetric(
            RESOURCE_UTILISATION,
            "gauge",
            ("worker_id", "resource"),
            "Fraction (0-1) of a worker's cpu, memory or disk in use.",
        ),
        PrometheusMetric(
            MEMORY_GROWTH,
            "gauge",
            ("process",),
            "Resident-set growth fitted over MemoryGrowthPolicy.window_s, as a fraction of the size at its start.",
        ),
        PrometheusMetric(
            HTTP_REQUESTS,
            "counter",
            ("method", "route", "status"),
            "Requests answered by the orchestrator's HTTP API, by route template and status code.",
        ),
        PrometheusMetric(
            HTTP_REQUEST_DURATION,
            "histogram",
            ("method", "route"),
            "Time the orchestrator took to answer a request, by route template (long polls included).",
        ),
        PrometheusMetric(
            ALERTS_FIRING,
            "gauge",
            ("alert",),
            "Series of each alert rule that are firing now, as the orchestrator evaluates them.",
        ),
        PrometheusMetric(BUILD_INFO, "gauge", ("version", "python"), "Always 1; the labels say what is running."),
        PrometheusMetric(
            TASKS_FINISHED,
            "counter",
            ("task_type", "outcome"),
            "Tasks that ended, by the task_lifecycle trigger that ended them (complete, fail, time_out, "
            "allocation_failed).",
        ),
        PrometheusMetric(TASK_FAILURES, "counter", ("task_type", "failure_code"), "Failed tasks by failure code."),
        PrometheusMetric(
            QUEUE_WAIT, "histogram", ("task_type",), "Time from a task's submission to its start on a worker."
        ),
        PrometheusMetric(LEASE_EXPIRIES, "counter", (), "Leases that expired without renewal."),
        PrometheusMetric(
            REQUEUES, "counter", ("reason",), "Tasks put back in the queue, by the task_lifecycle trigger."
        ),
        PrometheusMetric(
            UNROUTABLE_TASKS, "gauge", ("task_type",),
            "Queued tasks of a type no live worker has a handler for: they wait, they do not fail.",
        ),
    )
}

__all__ = [
    "ALERTS_FIRING",
    "BASE_BUCKETS",
    "BREAKER_STATE",
    "BUILD_INFO",
    "CALLS",
    "CALL_DURATION",
    "CALL_ERRORS",
    "CALL_OUTCOMES",
    "ERROR",
    "FAST_FAIL",
    "AI_PROVIDER_SERVICE",
    "GIT_PLATFORM_SERVICE",
    "KNOWN_CALLS",
    "KNOWN_TASK_TYPES",
    "LEASE_EXPIRIES",
    "OTHER_TASK_TYPE",
    "QUEUE_WAIT",
    "REQUEUES",
    "SUCCESS",
    "TASKS_FINISHED",
    "TASK_FAILURES",
    "UNROUTABLE_TASKS",
    "call_duration_buckets",
    "latency_quantile",
    "longest_call_s",
    "wait_buckets",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_DURATION",
    "MEMORY_GROWTH",
    "METRICS",
    "QUEUE_DEPTH",
    "RATE_WINDOW_S",
    "RESOURCE_UTILISATION",
    "RETRIES",
    "TASK_DURATION",
    "WORKERS",
    "PrometheusMetric",
]
