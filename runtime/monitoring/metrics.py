"""The orchestrator's Prometheus metrics (seed 4.5 "Real-time Monitoring", issue 4 §2).

Every family is registered from :data:`spec.metrics.METRICS`, so its name, kind, labels and help
are the ones ``spec.render.prometheus_rules`` writes its alerting rules against. Each
orchestrator gets its own ``CollectorRegistry``: several orchestrators can run in one process
(the tests do) without sharing or clashing series.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from runtime.resilience.circuit_breaker import StateChange
from runtime.resilience.retry import AttemptEvent
from spec.machines import MACHINES
from spec.metrics import (
    ALERTS_FIRING,
    BREAKER_STATE,
    CALL_DURATION,
    CALLS,
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS,
    METRICS,
    QUEUE_DEPTH,
    RESOURCE_UTILISATION,
    RETRIES,
    TASK_DURATION,
    WORKERS,
)

#: Task durations run from milliseconds (a no-op) to the longest task timeout the spec allows.
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, float("inf"))

_BREAKER_STATES = MACHINES["circuit_breaker"].state_names
_WORKER_STATES = MACHINES["worker_lifecycle"].state_names

CONTENT_TYPE = CONTENT_TYPE_LATEST


def _declared(name: str, kind: str) -> tuple[str, str, tuple[str, ...]]:
    """Name, help and labels of `name` as ``spec.metrics`` declares it, checking its kind."""
    spec = METRICS[name]
    if spec.kind != kind:
        raise ValueError(f"spec.metrics declares {name!r} as a {spec.kind}, not a {kind}")
    return spec.name, spec.help, spec.labels


class OrchestratorMetrics:
    """The families of one orchestrator, and the events that update them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.calls = Counter(*_declared(CALLS, "counter"), registry=r)
        self.call_duration = Histogram(*_declared(CALL_DURATION, "histogram"), registry=r)
        self.breaker_state = Gauge(*_declared(BREAKER_STATE, "gauge"), registry=r)
        self.retries = Counter(*_declared(RETRIES, "counter"), registry=r)
        self.queue_depth = Gauge(*_declared(QUEUE_DEPTH, "gauge"), registry=r)
        self.workers = Gauge(*_declared(WORKERS, "gauge"), registry=r)
        self.task_duration = Histogram(*_declared(TASK_DURATION, "histogram"), registry=r, buckets=TASK_BUCKETS)
        self.resource = Gauge(*_declared(RESOURCE_UTILISATION, "gauge"), registry=r)
        self.http_requests = Counter(*_declared(HTTP_REQUESTS, "counter"), registry=r)
        self.http_duration = Histogram(*_declared(HTTP_REQUEST_DURATION, "histogram"), registry=r)
        self.alerts_firing = Gauge(*_declared(ALERTS_FIRING, "gauge"), registry=r)
        for state in _WORKER_STATES:
            self.workers.labels(state=state).set(0)

    # -- updates ----------------------------------------------------------------------------

    def record_call(self, service: str, operation: str, *, ok: bool, duration_s: float) -> None:
        self.calls.labels(service=service, operation=operation, outcome="success" if ok else "error").inc()
        self.call_duration.labels(service=service, operation=operation).observe(duration_s)

    def record_breaker_state(self, service: str, state: str) -> None:
        for name in _BREAKER_STATES:
            self.breaker_state.labels(service=service, state=name).set(1.0 if name == state else 0.0)

    def on_breaker_change(self, change: StateChange) -> None:
        """A ``BreakerRegistry.on_state_change`` listener."""
        self.record_breaker_state(change.service, change.dest)

    def on_retry(self, service: str, event: AttemptEvent) -> None:
        """A ``RetryHandler.on_attempt`` listener (bind the service name first)."""
        self.retries.labels(service=service, error_class=event.error_class.value).inc()

    def record_task(self, task_type: str, outcome: str, duration_s: float) -> None:
        self.task_duration.labels(task_type=task_type, outcome=outcome).observe(max(0.0, duration_s))

    def record_http(self, method: str, route: str, status: int, duration_s: float) -> None:
        self.http_requests.labels(method=method, route=route, status=str(status)).inc()
        self.http_duration.labels(method=method, route=route).observe(duration_s)

    def set_queue(self, depth: int, workers_by_state: Mapping[str, int]) -> None:
        self.queue_depth.set(depth)
        for state in _WORKER_STATES:
            self.workers.labels(state=state).set(workers_by_state.get(state, 0))

    def set_resources(self, samples: Iterable[tuple[str, str, float]]) -> None:
        """Replace every ``(worker_id, resource, ratio)``: workers that left rotation drop out."""
        self.resource.clear()
        for worker_id, resource, ratio in samples:
            self.resource.labels(worker_id=worker_id, resource=resource).set(ratio)

    def set_alerts_firing(self, counts: Mapping[str, int]) -> None:
        for alert, count in counts.items():
            self.alerts_firing.labels(alert=alert).set(count)

    # -- exposition -------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text format a Prometheus server scrapes."""
        return generate_latest(self.registry)
