"""Names of the series the runtime exports on ``/metrics`` (seed 4.5, "Real-time Monitoring").

Written once here and read by both sides: the orchestrator registers its Prometheus families
from :data:`METRICS` (``runtime.monitoring.metrics``), and ``spec.render.prometheus_rules``
writes alerting rules over the same names, so the two can never drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class PrometheusMetric:
    """One series the runtime exports on ``/metrics`` (names shared by the runtime and the rules)."""

    name: str
    kind: str  # counter, gauge or histogram
    labels: tuple[str, ...]
    help: str


CALLS = "orchestration_external_calls_total"
CALL_DURATION = "orchestration_external_call_duration_seconds"
BREAKER_STATE = "orchestration_circuit_breaker_state"
RETRIES = "orchestration_retries_total"
QUEUE_DEPTH = "orchestration_queue_depth"
WORKERS = "orchestration_workers"
TASK_DURATION = "orchestration_task_duration_seconds"
RESOURCE_UTILISATION = "orchestration_resource_utilisation_ratio"
HTTP_REQUESTS = "orchestration_http_requests_total"
HTTP_REQUEST_DURATION = "orchestration_http_request_duration_seconds"
ALERTS_FIRING = "orchestration_alerts_firing"

#: How far back one evaluation of a call metric looks (the ``rate()`` range of the generated rules,
#: the window of the runtime's ``CallWindow``): at least four scrape intervals of a usual 15 s scrape.
#: How long a breach must last is the rule's ``for_s``, not this.
RATE_WINDOW_S = 60.0

#: Every series the alert rules read, and the other seed 4.5 "Real-time Monitoring" series, by role.
METRICS: Mapping[str, PrometheusMetric] = {
    m.name: m
    for m in (
        PrometheusMetric(
            CALLS,
            "counter",
            ("service", "operation", "outcome"),
            "Calls to external services after retries; outcome is 'success' or 'error'.",
        ),
        PrometheusMetric(
            CALL_DURATION,
            "histogram",
            ("service", "operation"),
            "Duration of calls to external services, retries included.",
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
    )
}

__all__ = [
    "ALERTS_FIRING",
    "BREAKER_STATE",
    "CALLS",
    "CALL_DURATION",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_DURATION",
    "METRICS",
    "QUEUE_DEPTH",
    "RATE_WINDOW_S",
    "RESOURCE_UTILISATION",
    "RETRIES",
    "TASK_DURATION",
    "WORKERS",
    "PrometheusMetric",
]
