"""What a worker's external calls and breakers did, buffered and sent to the orchestrator (issue 13).

The AI provider, the git platform, their retries and circuit breakers all live in the worker
process (`runtime.workflow.pipeline` builds its own `BreakerRegistry`), so without this module
the orchestrator's call metrics, breaker gauges and alert rules never see them.
:class:`WorkerTelemetry` listens to every watched `ExternalService` (``on_call``) and
`BreakerRegistry` (``on_state_change``), keeps what it hears in a bounded buffer, and hands the
heartbeat loop one `TelemetryBatch` per interval.

**Lossy by design.** The buffer holds at most ``MAX_TELEMETRY_CALLS`` calls and
``MAX_TELEMETRY_BREAKER_CHANGES`` breaker changes; under pressure the *oldest* go first (the
newest say most about now) and every dropped item is counted and reported in the next batch
(``droppedCalls``). A batch the orchestrator never acknowledged is dropped too, and counted: a
worker must not pile up telemetry while the orchestrator is away. Breaker *states* are never
lost: every batch carries the current snapshot, and a snapshot counts as sent only once the
orchestrator acknowledged it, so after a lost batch the next one says the same again. While any
breaker is open or half-open the snapshot goes out every heartbeat even when acknowledged, so an
orchestrator that restarted (and forgot) learns it again within one interval, and its alert
keeps getting fresh samples; a fleet of closed breakers sends nothing.

**A separate request, on the heartbeat's clock.** The batch goes to
``POST /api/v1/workers/telemetry`` right after each heartbeat, not inside the heartbeat body:

* the heartbeat keeps the worker's leases alive; a telemetry field the orchestrator refuses
  (an unknown outcome from a newer worker, a bug) would otherwise turn the whole heartbeat into
  a 422 and cost the worker its tasks. Separately, a refusal is a clear 422 about telemetry
  alone, and the heartbeat's effects (lease renewal, cancellations, the drain notice) never
  depend on it;
* the heartbeat stays a small, constant-size body on the orchestrator's hottest write path,
  while a busy worker's batch can carry up to ``MAX_TELEMETRY_CALLS`` calls;
* a breaker state change does not wait for the next heartbeat: it sets :attr:`WorkerTelemetry.urgent`
  and the heartbeat loop sends the batch at once (an open breaker alerts within a round trip);
* before a task's outcome is reported, the calls it made are sent (one request, shared by the
  tasks ending meanwhile), so the orchestrator's metrics hold a task's calls once its outcome shows;
* the extra request is sent only when there is something new (calls, changes, drops, or a
  snapshot the orchestrator has not acknowledged), so an idle fleet sends none: the cost is one
  request per heartbeat interval per *busy* worker, on the connection the heartbeat keeps open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections import deque
from collections.abc import Callable

from runtime.resilience.circuit_breaker import BreakerRegistry, StateChange
from runtime.resilience.service import CallObservation, ExternalService
from runtime.telemetry_protocol import (
    MAX_TELEMETRY_BREAKER_CHANGES,
    MAX_TELEMETRY_CALLS,
    MAX_TELEMETRY_SERVICES,
    NAME_PATTERN,
    BreakerChangeReport,
    CallOutcome,
    CallReport,
    TelemetryAck,
    TelemetryBatch,
)
from runtime.worker.client import OrchestratorClient
from runtime.worker.errors import OrchestratorError
from spec.machines.circuit_breaker import BreakerState, BreakerTrigger

log = logging.getLogger("runtime.worker.telemetry")

_NAME = re.compile(NAME_PATTERN)
#: The operation name reported for a call whose function has no usable name (a lambda).
ANONYMOUS_OPERATION = "call"


def call_outcome(observation: CallObservation) -> CallOutcome:
    """``ok``, the error class, or ``breaker_open`` for a call the breaker refused."""
    if observation.breaker_open:
        return CallOutcome.BREAKER_OPEN
    if observation.error_class is None:
        return CallOutcome.OK
    return CallOutcome(observation.error_class.value)


def _operation(name: str) -> str:
    return name if len(name) <= 64 and _NAME.match(name) else ANONYMOUS_OPERATION


class WorkerTelemetry:
    """A bounded buffer of call reports and breaker changes, and the batches built from it."""

    def __init__(
        self,
        *,
        max_calls: int = MAX_TELEMETRY_CALLS,
        max_breaker_changes: int = MAX_TELEMETRY_BREAKER_CHANGES,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not 1 <= max_calls <= MAX_TELEMETRY_CALLS:
            raise ValueError(f"max_calls must be 1..{MAX_TELEMETRY_CALLS}, got {max_calls}")
        if not 1 <= max_breaker_changes <= MAX_TELEMETRY_BREAKER_CHANGES:
            raise ValueError(f"max_breaker_changes must be 1..{MAX_TELEMETRY_BREAKER_CHANGES}, "
                             f"got {max_breaker_changes}")
        self._calls: deque[CallReport] = deque()
        self._changes: deque[BreakerChangeReport] = deque()
        self.max_calls = max_calls
        self.max_breaker_changes = max_breaker_changes
        self._wall_clock = wall_clock
        self._registries: list[BreakerRegistry] = []
        self._sequence = 0
        #: Totals since the worker started, as every batch reports them.
        self.dropped_calls = 0
        self.dropped_breaker_changes = 0
        self._acknowledged: tuple[dict[str, BreakerState], int, int] = ({}, 0, 0)
        #: Set on a breaker state change: the worker sends a batch now instead of at the next heartbeat.
        self.urgent = asyncio.Event()

    # -- what is watched --------------------------------------------------------------------

    def watch_service(self, service: ExternalService) -> None:
        """Report every call made through `service`."""
        service.on_call(self.record_call)

    def watch_breakers(self, registry: BreakerRegistry) -> None:
        """Report the state changes of every breaker of `registry`, and its states in every batch."""
        if registry not in self._registries:
            self._registries.append(registry)
            registry.on_state_change(self.record_breaker_change)

    # -- the buffer -------------------------------------------------------------------------

    def record_call(self, observation: CallObservation) -> None:
        report = CallReport(
            service=observation.service, operation=_operation(observation.operation),
            outcome=call_outcome(observation), duration_s=observation.duration_s,
            retries=len(observation.retry_classes), retry_classes=list(observation.retry_classes),
        )
        if len(self._calls) >= self.max_calls:
            self._calls.popleft()
            self.dropped_calls += 1
        self._calls.append(report)

    def record_breaker_change(self, change: StateChange) -> None:
        report = BreakerChangeReport(service=change.service, source=BreakerState(change.source),
                                     dest=BreakerState(change.dest), trigger=BreakerTrigger(change.trigger),
                                     at=self._wall_clock())
        if len(self._changes) >= self.max_breaker_changes:
            self._changes.popleft()
            self.dropped_breaker_changes += 1
        self._changes.append(report)
        self.urgent.set()

    def breaker_states(self) -> dict[str, BreakerState]:
        """Service → state of every watched breaker now (the first registry wins a name clash)."""
        states: dict[str, BreakerState] = {}
        for registry in self._registries:
            for service, state in registry.states().items():
                states.setdefault(service, BreakerState(state))
        if len(states) > MAX_TELEMETRY_SERVICES:
            log.warning("reporting %d of %d breakers", MAX_TELEMETRY_SERVICES, len(states))
            states = dict(sorted(states.items())[:MAX_TELEMETRY_SERVICES])
        return states

    @property
    def pending_calls(self) -> int:
        return len(self._calls)

    # -- batches ----------------------------------------------------------------------------

    def next_batch(self, worker_id: str) -> TelemetryBatch | None:
        """Take everything buffered into a batch; ``None`` when the orchestrator already knows it all."""
        states = self.breaker_states()
        drops = (self.dropped_calls, self.dropped_breaker_changes)
        all_closed = all(state is BreakerState.CLOSED for state in states.values())
        if not self._calls and not self._changes and all_closed and (states, *drops) == self._acknowledged:
            return None
        self._sequence += 1
        batch = TelemetryBatch(worker_id=worker_id, sequence=self._sequence, calls=list(self._calls),
                               breaker_changes=list(self._changes), breakers=states,
                               dropped_calls=drops[0], dropped_breaker_changes=drops[1])
        self._calls.clear()
        self._changes.clear()
        return batch

    def delivered(self, batch: TelemetryBatch, ack: TelemetryAck) -> None:
        """The orchestrator recorded `batch`: its snapshot need not be sent again until it changes."""
        self._acknowledged = (dict(batch.breakers), batch.dropped_calls, batch.dropped_breaker_changes)
        if ack.missed_batches:
            log.info("the orchestrator missed %d telemetry batch(es) before batch %d", ack.missed_batches,
                     batch.sequence)

    def lost(self, batch: TelemetryBatch, reason: str) -> None:
        """`batch` did not get through: its items are dropped and counted (the snapshot is resent)."""
        self.dropped_calls += len(batch.calls)
        self.dropped_breaker_changes += len(batch.breaker_changes)
        log.warning("telemetry batch %d (%d calls, %d breaker changes) dropped: %s", batch.sequence,
                    len(batch.calls), len(batch.breaker_changes), reason)


class TelemetrySender:
    """Sends a worker's batches with its client: after heartbeats, at once for breaker changes, before outcomes."""

    def __init__(self, telemetry: WorkerTelemetry, client: Callable[[], OrchestratorClient | None],
                 worker_id: Callable[[], str]) -> None:
        self.telemetry = telemetry
        self._client = client
        self._worker_id = worker_id
        self._task_calls = asyncio.Lock()

    async def send(self) -> None:
        """One batch, if there is anything new; a failure drops (and counts) it, never raises."""
        client = self._client()
        batch = self.telemetry.next_batch(self._worker_id()) if client is not None else None
        if client is None or batch is None:
            return
        try:
            ack = await client.telemetry(batch)
        except OrchestratorError as exc:
            self.telemetry.lost(batch, str(exc))
            return
        self.telemetry.delivered(batch, ack)

    async def send_task_calls(self) -> None:
        """Before a task's outcome: send the calls it made, unless a send already took them (coalesced)."""
        async with self._task_calls:
            if self.telemetry.pending_calls:
                await self.send()

    async def wait_sending_urgent(self, until: float) -> None:
        """Sleep until loop time `until`; a breaker state change meanwhile is sent at once, not then."""
        loop = asyncio.get_running_loop()
        urgent = self.telemetry.urgent
        while (remaining := until - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(urgent.wait(), timeout=remaining)
            if urgent.is_set():
                urgent.clear()
                await self.send()


__all__ = ["ANONYMOUS_OPERATION", "TelemetrySender", "WorkerTelemetry", "call_outcome"]
