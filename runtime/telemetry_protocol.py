"""The wire format of what a worker reports besides its tasks: telemetry and escalations (issue 13).

**Telemetry**: external calls and circuit breakers seen by a worker.

Every call a worker makes to an external service (the AI provider, the git platform) and every
state change of its breakers happen in the worker process; the orchestrator's metrics and alert
rules need them. A worker sends them as one :class:`TelemetryBatch` per heartbeat interval to
``POST /api/v1/workers/telemetry`` (`runtime.worker.telemetry` explains why a separate request
rather than a field of the heartbeat). Defined once here, validated by the orchestrator with
these models: a bad batch is answered 422 naming the field, and nothing of it is recorded.

The batch is lossy by design: the worker's buffer is bounded, and what did not fit is *counted*
(``droppedCalls``, ``droppedBreakerChanges``, totals since the worker started). The breakers'
*current* states travel in every batch as a snapshot (``breakers``), so a lost batch never
leaves the orchestrator believing an open breaker is closed or the other way round.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field

from runtime.protocol import JsonFloat, JsonInt, WireModel
from spec.machines.circuit_breaker import BreakerState, BreakerTrigger
from spec.taxonomy import ErrorClass


class CallOutcome(StrEnum):
    """How one external call ended: ``ok``, the taxonomy's error class, or refused by an open breaker.

    A breaker fast-fail is its own outcome, not a network error: the service was not called, and
    counting it as an error would make one incident fire both the breaker and the error-rate alert.
    """

    OK = "ok"
    NETWORK = ErrorClass.NETWORK.value
    AUTHENTICATION = ErrorClass.AUTHENTICATION.value
    RATE_LIMIT = ErrorClass.RATE_LIMIT.value
    VALIDATION = ErrorClass.VALIDATION.value
    SYSTEM = ErrorClass.SYSTEM.value
    UNKNOWN = ErrorClass.UNKNOWN.value
    BREAKER_OPEN = "breaker_open"


#: Most calls one batch carries; also the worker buffer's capacity (more are dropped and counted).
MAX_TELEMETRY_CALLS = 1000
#: Most breaker state changes one batch carries (and the worker buffers).
MAX_TELEMETRY_BREAKER_CHANGES = 200
#: Most services a worker reports breakers for.
MAX_TELEMETRY_SERVICES = 64
#: Service and operation names: they become metric labels, so they are short and plain.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
#: Longest duration a call may report: a day (anything longer is a clock fault, not a call).
MAX_CALL_DURATION_S = 86_400.0
#: Most retries one call may report (``BackoffPolicy.max_retries`` allows at most 100).
MAX_CALL_RETRIES = 100

ServiceName = Annotated[str, Field(min_length=1, max_length=128, pattern=NAME_PATTERN)]
OperationName = Annotated[str, Field(min_length=1, max_length=64, pattern=NAME_PATTERN)]


class CallReport(WireModel):
    """One external call after its retries: which service and operation, how it ended, how long it took."""

    service: ServiceName
    operation: OperationName
    outcome: CallOutcome
    duration_s: JsonFloat = Field(ge=0, le=MAX_CALL_DURATION_S)
    #: Retries the retry handler made inside this call (the rate limiter's one retry is not counted).
    retries: JsonInt = Field(0, ge=0, le=MAX_CALL_RETRIES)
    #: The error class of each of those retries, in order (the ``error_class`` label of the retry counter).
    retry_classes: list[ErrorClass] = Field(default_factory=list, max_length=MAX_CALL_RETRIES)


class BreakerChangeReport(WireModel):
    """One state change of one of the worker's breakers (seed "Circuit state: Track state transitions")."""

    service: ServiceName
    source: BreakerState
    dest: BreakerState
    trigger: BreakerTrigger
    #: When it happened, in the worker's wall-clock epoch seconds (for logs; ordering is by position).
    at: JsonFloat = Field(ge=0)


class TelemetryBatch(WireModel):
    """What a worker saw since its last batch, and its breakers' states now."""

    worker_id: str = Field(min_length=1, max_length=128)
    #: Numbered from 1 per worker process: a gap tells the orchestrator a batch was lost.
    sequence: JsonInt = Field(ge=1, le=2**53 - 1)
    calls: list[CallReport] = Field(default_factory=list, max_length=MAX_TELEMETRY_CALLS)
    breaker_changes: list[BreakerChangeReport] = Field(default_factory=list, max_length=MAX_TELEMETRY_BREAKER_CHANGES)
    #: Service → the state of the worker's breaker now, for every breaker the worker has.
    breakers: dict[ServiceName, BreakerState] = Field(
        default_factory=dict, max_length=MAX_TELEMETRY_SERVICES,
        # Keys must match the name pattern; pydantic states it as patternProperties only.
        json_schema_extra={"additionalProperties": False})
    #: Calls and breaker changes the worker's buffer had to drop since the worker started.
    dropped_calls: JsonInt = Field(0, ge=0, le=2**53 - 1)
    dropped_breaker_changes: JsonInt = Field(0, ge=0, le=2**53 - 1)


class TelemetryAck(WireModel):
    """What the orchestrator recorded of a batch."""

    calls: int
    breaker_changes: int
    #: Batches the orchestrator never saw between this worker's previous batch and this one.
    missed_batches: int = 0


class WorkerEscalation(WireModel):
    """An escalation a worker hands to the orchestrator, which routes it by its configuration.

    ``POST /api/v1/workers/escalations`` (the worker's own token); answered 202 at once, delivery
    happens after the answer so a slow pager never holds up the worker's failing call.
    """

    worker_id: str = Field(min_length=1, max_length=128)
    level: JsonInt = Field(ge=1, le=4)
    reason: str = Field(min_length=1, max_length=4000)
    #: Which component escalated (``retry:ai-provider``, ``task:<id>``, ``auth:git``).
    source: str = Field(min_length=1, max_length=256)
    details: dict[str, Any] = Field(default_factory=dict, max_length=64)


class EscalationAccepted(WireModel):
    level: int
    action: str


__all__ = [
    "EscalationAccepted",
    "WorkerEscalation",
    "MAX_TELEMETRY_BREAKER_CHANGES",
    "MAX_TELEMETRY_CALLS",
    "MAX_TELEMETRY_SERVICES",
    "BreakerChangeReport",
    "CallOutcome",
    "CallReport",
    "TelemetryAck",
    "TelemetryBatch",
]
