"""The workers' telemetry on the orchestrator: their calls into the metrics, their breakers into one fleet state.

Each worker sends what its external calls and circuit breakers did (`runtime.telemetry_protocol`,
sent by `runtime.worker.telemetry`). :class:`FleetTelemetry` records a validated batch:

* every call through ``MonitoringService.record_call`` (the call counter, the latency histogram,
  the error-rate and latency rules), via :meth:`FleetTelemetry.record_worker_call`, which also
  knows the call's outcome class and its worker. A call the worker's breaker *refused*
  (``breaker_open``) is not a call of the service: it is counted here per worker and service,
  and recorded with the ``fast_fail`` outcome, outside the error rate, so one incident fires the
  breaker alert and not also the error-rate alert;
* every retry into the retry counter, by the retry's error class;
* the breaker states per worker and per service (the batch's snapshot), from which
  `spec.decisions.fleet_breakers` decides one state per service for the fleet: that state is the
  breaker gauge, which the ``CircuitBreakerOpen`` rule reads.
  The orchestrator's own breakers (``MonitoringService.breakers``) take part as one more member
  that is always in rotation.

Service and operation names come from the workers and become label values, so the number of
``(service, operation)`` series is bounded (``MAX_CALL_SERIES``): calls of any further pair are
recorded under ``other``/``other``, and the first such pair is logged.

Which workers are in rotation comes from the store at every monitoring refresh (:meth:`retain`);
a worker whose first batch arrives between two refreshes counts until the next one. A
deregistered worker is forgotten at once (:meth:`forget`). Dropped telemetry (the workers'
``droppedCalls`` totals, gaps in batch sequence numbers) is logged with the worker's id and
kept in :meth:`losses`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

from prometheus_client import Counter

from runtime.resilience.circuit_breaker import BreakerRegistry
from runtime.telemetry_protocol import CallOutcome, TelemetryAck, TelemetryBatch
from spec.decisions.fleet_breakers import fleet_states, open_reporters
from spec.machines.circuit_breaker import BreakerState
from spec.metrics import FAST_FAIL
from spec.taxonomy import ErrorClass

log = logging.getLogger("runtime.monitoring.fleet")

#: The member name of the orchestrator's own breakers in the fleet decision (never a worker id:
#: worker ids match ``[A-Za-z0-9._:-]+``).
ORCHESTRATOR_MEMBER = "(orchestrator)"

RecordCall = Callable[..., None]
#: Most distinct ``(service, operation)`` pairs recorded by name; the rest share ``OTHER``.
MAX_CALL_SERIES = 256
OTHER = "other"


@dataclass
class TelemetryLosses:
    """What one worker's telemetry lost on the way: dropped in its buffer, or whole batches missed."""

    dropped_calls: int = 0
    dropped_breaker_changes: int = 0
    missed_batches: int = 0


class FleetTelemetry:
    """Records worker telemetry batches into one orchestrator's monitoring."""

    def __init__(
        self,
        *,
        record_call: RecordCall,
        record_breaker_state: Callable[[str, str], None],
        retries: Counter,
        local_breakers: BreakerRegistry | None = None,
    ) -> None:
        self._record_call = record_call
        #: Sets the breaker gauge, which the ``CircuitBreakerOpen`` rule reads, and evaluates it at once.
        self._record_breaker_state = record_breaker_state
        self._retries = retries
        self.local_breakers = local_breakers
        self._reports: dict[str, dict[str, BreakerState]] = {}
        self._rotation: set[str] = set()
        self._arrived: set[str] = set()  # first batch since the last refresh: counted until the next one
        self._services: set[str] = set()
        self._sequence: dict[str, int] = {}
        self._losses: dict[str, TelemetryLosses] = {}
        #: Calls refused by a worker's open breaker, per (worker id, service).
        self.fast_fails: dict[tuple[str, str], int] = {}
        self._call_series: set[tuple[str, str]] = set()

    # -- recording --------------------------------------------------------------------------

    def record_worker_call(
        self, service: str, operation: str, *, outcome: CallOutcome, duration_s: float,
        retry_classes: Iterable[ErrorClass] = (), worker_id: str | None = None,
    ) -> None:
        """One call a worker made: ``record_call`` for a real call, a per-worker count for a fast-fail."""
        service, operation = self._bounded(service, operation)
        for error_class in retry_classes:
            self._retries.labels(service=service, error_class=error_class.value).inc()
        if outcome is CallOutcome.BREAKER_OPEN:
            key = (worker_id or "", service)
            self.fast_fails[key] = self.fast_fails.get(key, 0) + 1
            self._record_call(service, operation, ok=False, duration_s=duration_s, outcome=FAST_FAIL)
            return
        ok = outcome is CallOutcome.OK
        self._record_call(service, operation, ok=ok, duration_s=duration_s,
                          error_class=None if ok else ErrorClass(outcome.value).value)

    def _bounded(self, service: str, operation: str) -> tuple[str, str]:
        key = (service, operation)
        if key in self._call_series:
            return key
        if len(self._call_series) < MAX_CALL_SERIES:
            self._call_series.add(key)
            return key
        if (OTHER, OTHER) not in self._call_series:
            self._call_series.add((OTHER, OTHER))
            log.warning("more than %d (service, operation) pairs reported; %s/%s and later ones are recorded as "
                        "%s/%s", MAX_CALL_SERIES, service, operation, OTHER, OTHER)
        return OTHER, OTHER

    def record_batch(self, batch: TelemetryBatch) -> TelemetryAck:
        """Record a validated batch (its worker's credential was checked by the route)."""
        worker = batch.worker_id
        for call in batch.calls:
            self.record_worker_call(call.service, call.operation, outcome=call.outcome, duration_s=call.duration_s,
                                    retry_classes=call.retry_classes, worker_id=worker)
        for change in batch.breaker_changes:
            log.info("worker %s: breaker of %s %s -> %s (%s)", worker, change.service, change.source, change.dest,
                     change.trigger, extra={"workerId": worker, "service": change.service, "state": change.dest})
        missed = self._count_losses(batch)
        if worker not in self._reports and worker not in self._rotation:
            self._arrived.add(worker)
        self._reports[worker] = dict(batch.breakers)
        self._services.update(batch.breakers)
        self.report()
        return TelemetryAck(calls=len(batch.calls), breaker_changes=len(batch.breaker_changes),
                            missed_batches=missed)

    def _count_losses(self, batch: TelemetryBatch) -> int:
        worker = batch.worker_id
        losses = self._losses.setdefault(worker, TelemetryLosses())
        previous = self._sequence.get(worker)
        missed = batch.sequence - previous - 1 if previous is not None and batch.sequence > previous else 0
        # A lower number (or no previous one) is a new worker process: its totals start again.
        restarted = previous is None or batch.sequence <= previous
        self._sequence[worker] = batch.sequence
        new_calls = batch.dropped_calls - (0 if restarted else losses.dropped_calls)
        new_changes = batch.dropped_breaker_changes - (0 if restarted else losses.dropped_breaker_changes)
        if restarted:
            losses.dropped_calls = losses.dropped_breaker_changes = 0
        if new_calls > 0 or new_changes > 0 or missed > 0:
            log.warning("worker %s lost telemetry: %d call(s) and %d breaker change(s) dropped, %d batch(es) missed",
                        worker, max(0, new_calls), max(0, new_changes), missed,
                        extra={"workerId": worker, "droppedCalls": batch.dropped_calls, "missedBatches": missed})
        losses.dropped_calls = max(losses.dropped_calls, batch.dropped_calls)
        losses.dropped_breaker_changes = max(losses.dropped_breaker_changes, batch.dropped_breaker_changes)
        losses.missed_batches += missed
        return missed

    # -- rotation ---------------------------------------------------------------------------

    def retain(self, in_rotation: Collection[str]) -> None:
        """The workers in rotation now (from the store); the others' reports stop counting and are dropped."""
        self._rotation = set(in_rotation)
        self._arrived.clear()
        for worker in [w for w in self._reports if w not in self._rotation]:
            self.forget(worker, report=False)
        self.report()

    def forget(self, worker_id: str, *, report: bool = True) -> None:
        """`worker_id` left (deregistered): its breakers no longer count."""
        self._reports.pop(worker_id, None)
        self._arrived.discard(worker_id)
        self._rotation.discard(worker_id)
        self._sequence.pop(worker_id, None)
        if report:
            self.report()

    # -- the fleet state --------------------------------------------------------------------

    def _members(self) -> tuple[dict[str, dict[str, BreakerState]], set[str]]:
        reports: dict[str, dict[str, BreakerState]] = dict(self._reports)
        counted = (self._rotation | self._arrived) & set(reports)
        if self.local_breakers is not None and len(self.local_breakers):
            reports[ORCHESTRATOR_MEMBER] = {s: BreakerState(v) for s, v in self.local_breakers.states().items()}
            counted.add(ORCHESTRATOR_MEMBER)
        return reports, counted

    def states(self) -> dict[str, BreakerState]:
        """Service → the fleet's breaker state, for every service any worker has reported."""
        reports, counted = self._members()
        fleet = fleet_states(reports, counted)
        return {service: fleet.get(service, BreakerState.CLOSED) for service in sorted(self._services | set(fleet))}

    def worker_states(self) -> dict[str, dict[str, BreakerState]]:
        """Worker id → service → the state that worker reported last (workers in rotation only)."""
        return {w: dict(s) for w, s in sorted(self._reports.items())}

    def open_on(self, service: str) -> tuple[str, ...]:
        """The members whose breaker of `service` is open (worker ids, or the orchestrator's)."""
        reports, counted = self._members()
        return open_reporters(reports, counted, service)

    def losses(self) -> dict[str, TelemetryLosses]:
        return dict(self._losses)

    def report(self) -> None:
        """Put the fleet states into the breaker gauge and the ``CircuitBreakerOpen`` rule, now."""
        if not self._services:
            return
        for service, state in self.states().items():
            if service not in self._services:
                continue  # only the orchestrator's own breaker: MonitoringService reports it already
            self._record_breaker_state(service, state)


__all__ = ["MAX_CALL_SERIES", "ORCHESTRATOR_MEMBER", "OTHER", "FleetTelemetry", "TelemetryLosses"]
