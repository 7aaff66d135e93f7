"""The orchestrator's Prometheus metrics (seed 4.5 "Real-time Monitoring", issues 4 §2 and 13).

Every family is registered from :data:`spec.metrics.METRICS`, so its name, kind, labels and help
are the ones ``spec.render.prometheus_rules`` writes its alerting rules against. Each
orchestrator gets its own ``CollectorRegistry``: several orchestrators can run in one process
(the tests do) without sharing or clashing series.

Hygiene (issue 13): the call counters of the services and operations ``spec.metrics`` knows, and
the task counters of the known task types, exist at zero from the start (``rate()`` sees the
first error); a service seen later gets all its outcomes at zero at its first call. Task types
outside the known ones are counted as ``other``. The exposition leaves out the ``_created``
series (they double its size and no rule reads them) and adds the process collector and a
build-info gauge.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric

from runtime.resilience.circuit_breaker import StateChange
from runtime.resilience.retry import AttemptEvent
from spec.machines import MACHINES
from spec.machines.task_lifecycle import TaskTrigger
from spec.metrics import (
    ALERTS_FIRING,
    BREAKER_STATE,
    BUILD_INFO,
    CALL_DURATION,
    CALL_ERRORS,
    CALL_OUTCOMES,
    CALLS,
    ERROR,
    FAST_FAIL,
    HTTP_REQUEST_DURATION,
    HTTP_REQUESTS,
    KNOWN_CALLS,
    KNOWN_TASK_TYPES,
    LEASE_EXPIRIES,
    MEMORY_GROWTH,
    METRICS,
    OTHER_TASK_TYPE,
    QUEUE_DEPTH,
    QUEUE_WAIT,
    REQUEUES,
    RESOURCE_UTILISATION,
    RETRIES,
    SUCCESS,
    TASK_DURATION,
    TASK_FAILURES,
    TASKS_FINISHED,
    UNROUTABLE_TASKS,
    WORKERS,
    call_duration_buckets,
    wait_buckets,
)
from spec.policies import DEFAULT_POLICIES, Policies
from spec.taxonomy import ErrorClass, FailureCode

#: Task durations run from milliseconds (a no-op) to the longest task timeout the spec allows.
TASK_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, float("inf"))

_BREAKER_STATES = MACHINES["circuit_breaker"].state_names
_WORKER_STATES = MACHINES["worker_lifecycle"].state_names
#: Triggers that end a task (its ``outcome`` label) and that put it back in the queue (``reason``).
_TASK_ENDINGS = (TaskTrigger.COMPLETE, TaskTrigger.FAIL, TaskTrigger.TIME_OUT, TaskTrigger.ALLOCATION_FAILED)
_REQUEUE_REASONS = (TaskTrigger.REQUEUE, TaskTrigger.LEASE_LOST, TaskTrigger.RETRY)
#: Failure codes with their own label value; a code outside the taxonomy counts as TASK_ERROR.
_FAILURE_CODES = frozenset(code.value for code in FailureCode)
_ERROR_CLASSES = frozenset(c.value for c in ErrorClass)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def _declared(name: str, kind: str) -> tuple[str, str, tuple[str, ...]]:
    """Name, help and labels of `name` as ``spec.metrics`` declares it, checking its kind."""
    spec = METRICS[name]
    if spec.kind != kind:
        raise ValueError(f"spec.metrics declares {name!r} as a {spec.kind}, not a {kind}")
    return spec.name, spec.help, spec.labels


def _version() -> str:
    try:
        return metadata.version("orchestration-spec")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "source"


class _WithoutCreated:
    """The registry's families without their ``_created`` samples (what ``generate_latest`` reads)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


class OrchestratorMetrics:
    """The families of one orchestrator, and the events that update them."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        policies: Policies = DEFAULT_POLICIES,
        task_types: Iterable[str] = KNOWN_TASK_TYPES,
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        #: Task types with their own label value; others count as ``other``.
        self.task_types = frozenset(task_types)
        self.calls = Counter(*_declared(CALLS, "counter"), registry=r)
        self.call_errors = Counter(*_declared(CALL_ERRORS, "counter"), registry=r)
        self.call_duration = Histogram(
            *_declared(CALL_DURATION, "histogram"), registry=r, buckets=call_duration_buckets(policies)
        )
        self.breaker_state = Gauge(*_declared(BREAKER_STATE, "gauge"), registry=r)
        self.retries = Counter(*_declared(RETRIES, "counter"), registry=r)
        self.queue_depth = Gauge(*_declared(QUEUE_DEPTH, "gauge"), registry=r)
        self.workers = Gauge(*_declared(WORKERS, "gauge"), registry=r)
        self.task_duration = Histogram(*_declared(TASK_DURATION, "histogram"), registry=r, buckets=TASK_BUCKETS)
        self.resource = Gauge(*_declared(RESOURCE_UTILISATION, "gauge"), registry=r)
        self.memory_growth = Gauge(*_declared(MEMORY_GROWTH, "gauge"), registry=r)
        self.http_requests = Counter(*_declared(HTTP_REQUESTS, "counter"), registry=r)
        self.http_duration = Histogram(*_declared(HTTP_REQUEST_DURATION, "histogram"), registry=r)
        self.alerts_firing = Gauge(*_declared(ALERTS_FIRING, "gauge"), registry=r)
        self.build_info = Gauge(*_declared(BUILD_INFO, "gauge"), registry=r)
        self.tasks_finished = Counter(*_declared(TASKS_FINISHED, "counter"), registry=r)
        self.task_failures = Counter(*_declared(TASK_FAILURES, "counter"), registry=r)
        self.queue_wait = Histogram(*_declared(QUEUE_WAIT, "histogram"), registry=r, buckets=wait_buckets(policies))
        self.lease_expiries = Counter(*_declared(LEASE_EXPIRIES, "counter"), registry=r)
        self.requeues = Counter(*_declared(REQUEUES, "counter"), registry=r)
        self.unroutable = Gauge(*_declared(UNROUTABLE_TASKS, "gauge"), registry=r)
        ProcessCollector(registry=r)
        self.build_info.labels(version=_version(), python=platform.python_version()).set(1)
        self._call_series: set[tuple[str, str]] = set()
        for state in _WORKER_STATES:
            self.workers.labels(state=state).set(0)
        for service, operations in KNOWN_CALLS.items():
            for operation in operations:
                self._known_call(service, operation)
            for error_class in ErrorClass:
                self.retries.labels(service=service, error_class=error_class.value)
        for task_type in (*sorted(self.task_types), OTHER_TASK_TYPE):
            for ending in _TASK_ENDINGS:
                self.tasks_finished.labels(task_type=task_type, outcome=ending)
            for code in FailureCode:
                self.task_failures.labels(task_type=task_type, failure_code=code.value)
            self.queue_wait.labels(task_type=task_type)
            self.unroutable.labels(task_type=task_type).set(0)
        for reason in _REQUEUE_REASONS:
            self.requeues.labels(reason=reason)
        self.lease_expiries.inc(0)

    def _known_call(self, service: str, operation: str) -> None:
        """Create every outcome of ``(service, operation)`` at zero, once."""
        if (service, operation) in self._call_series:
            return
        self._call_series.add((service, operation))
        for outcome in CALL_OUTCOMES:
            self.calls.labels(service=service, operation=operation, outcome=outcome)
        for error_class in ErrorClass:
            self.call_errors.labels(service=service, operation=operation, error_class=error_class.value)
        self.call_duration.labels(service=service, operation=operation)

    def task_type_label(self, task_type: str) -> str:
        """`task_type` if it is a known type, else ``other``: clients cannot add label values."""
        return task_type if task_type in self.task_types else OTHER_TASK_TYPE

    # -- updates ----------------------------------------------------------------------------

    def record_call(
        self, service: str, operation: str, *, ok: bool, duration_s: float, outcome: str | None = None,
        error_class: str | None = None,
    ) -> None:
        """One call: `outcome` is one of ``spec.metrics.CALL_OUTCOMES``, by default from `ok`; an
        ``error`` also counts by `error_class` (``spec.taxonomy.ErrorClass``, ``unknown`` if not given)."""
        if outcome is None:
            outcome = SUCCESS if ok else ERROR
        elif outcome not in CALL_OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(CALL_OUTCOMES)}, got {outcome!r}")
        if error_class is not None and error_class not in _ERROR_CLASSES:
            raise ValueError(f"error_class must be one of {', '.join(sorted(_ERROR_CLASSES))}, got {error_class!r}")
        self._known_call(service, operation)
        self.calls.labels(service=service, operation=operation, outcome=outcome).inc()
        if outcome == ERROR:
            self.call_errors.labels(service=service, operation=operation,
                                    error_class=error_class or ErrorClass.UNKNOWN.value).inc()
        if outcome != FAST_FAIL:  # a refused call took no time at the service: it would hide slow ones
            self.call_duration.labels(service=service, operation=operation).observe(max(0.0, duration_s))

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
        """A task timed from its start: its duration."""
        label = self.task_type_label(task_type)
        self.task_duration.labels(task_type=label, outcome=outcome).observe(max(0.0, duration_s))

    def record_task_end(self, task_type: str, outcome: str, failure_code: str | None) -> None:
        """Any task that ended (timed or not), and its failure code when it failed."""
        label = self.task_type_label(task_type)
        self.tasks_finished.labels(task_type=label, outcome=outcome).inc()
        if failure_code is not None:
            known = failure_code if failure_code in _FAILURE_CODES else FailureCode.TASK_ERROR.value
            self.task_failures.labels(task_type=label, failure_code=known).inc()

    def record_queue_wait(self, task_type: str, wait_s: float) -> None:
        self.queue_wait.labels(task_type=self.task_type_label(task_type)).observe(max(0.0, wait_s))

    def record_requeue(self, reason: str, *, lease_expired: bool) -> None:
        """A task back in the queue; `lease_expired` when its lease ran out without renewal."""
        self.requeues.labels(reason=reason).inc()
        if lease_expired:
            self.lease_expiries.inc()

    def record_http(self, method: str, route: str, status: int, duration_s: float) -> None:
        self.http_requests.labels(method=method, route=route, status=str(status)).inc()
        self.http_duration.labels(method=method, route=route).observe(duration_s)

    def set_queue(self, depth: int, workers_by_state: Mapping[str, int]) -> None:
        self.queue_depth.set(depth)
        for state in _WORKER_STATES:
            self.workers.labels(state=state).set(workers_by_state.get(state, 0))

    def set_unroutable(self, queued_by_type: Mapping[str, int]) -> None:
        """Queued tasks by type for the types no live worker handles; a type outside the known ones is ``other``."""
        totals = dict.fromkeys((*self.task_types, OTHER_TASK_TYPE), 0)
        for task_type, count in queued_by_type.items():
            totals[self.task_type_label(task_type)] += count
        for label, count in totals.items():
            self.unroutable.labels(task_type=label).set(count)

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
        return generate_latest(_WithoutCreated(self.registry))
