"""The WebSocket stream's messages besides `runtime.protocol.Event`, and each event type's payload.

``Event.payload`` is a plain object on the wire; `EVENT_PAYLOADS` says what it holds per
`EventType`. These models are what the AsyncAPI document (`runtime.orchestrator.asyncapi`, served
at ``/asyncapi.json``) is generated from, and the runtime tests validate every event they receive
against them, so the document cannot drift from what the orchestrator sends.
"""

from __future__ import annotations

from typing import Any, Literal

from runtime.protocol import ErrorBody, Event, EventType, TaskError, WireModel


class SubscribedMessage(WireModel):
    """Server → client: the subscription is in place; stored events after ``lastEventId`` follow."""

    type: Literal["subscribed"]
    workflow_id: str


class StreamErrorMessage(WireModel):
    """Server → client: a message was refused (the connection stays open); the field and why."""

    type: Literal["error"]
    error: ErrorBody


class TaskStartedPayload(WireModel):
    """A worker started the task (attempt 1 first, one more per lease)."""

    #: The lease holder: sent to admin and worker credentials only (`runtime.orchestrator.hub.LEASE_KEYS`).
    worker_id: str | None = None
    attempt: int


class TaskProgressPayload(WireModel):
    """The task reported progress (paced per `spec.policies.ProgressPolicy`)."""

    percentage: float
    step: str
    details: dict[str, Any]


class TaskCompletedPayload(WireModel):
    """The task completed with this result, on this attempt."""

    result: dict[str, Any]
    attempt: int | None = None


class TaskFailedPayload(WireModel):
    """The task failed with this error (`spec.taxonomy` code and class), on its last attempt."""

    error: TaskError
    attempt: int | None = None


class TaskRequeuedPayload(WireModel):
    """The task went back to the queue: its lease was lost, expired or handed back, or its attempt
    failed and `spec.policies.TaskRetryPolicy` retries it (then ``attempt`` is the one that failed,
    ``error`` its error, and the task is not leased before ``notBefore``)."""

    reason: str
    attempt: int | None = None
    not_before: float | None = None
    error: TaskError | None = None


class WorkflowCompletedPayload(WireModel):
    """Every task of the workflow completed; nothing follows."""


class WorkflowFailedPayload(WireModel):
    """The workflow failed because a task failed (the first one, for ``failurePolicy`` finish_independent)."""

    #: The error of the task that failed the workflow (its ``taskId`` is the event's).
    error: TaskError


class TaskSkippedPayload(WireModel):
    """The task will never run: a task it depends on failed (``failurePolicy`` finish_independent)."""

    #: The failed task that caused it (directly or through other skipped tasks).
    failed_task_id: str


class TaskCancelledPayload(WireModel):
    """The task ended cancelled without running to its end: its workflow was cancelled or failed fast."""

    reason: str


class WorkflowCancelledPayload(WireModel):
    """The client cancelled the workflow; its running tasks end as their workers stop them."""


class ShutdownPayload(WireModel):
    """The orchestrator is shutting down; the connection closes next (1001): reconnect and resume."""

    reason: str


class AlertPayload(WireModel):
    """An alert rule changed state (`spec.policies.AlertRule`); sent to every connection, id sequence of its own."""

    alert: str
    state: str
    previous_state: str
    labels: dict[str, str]
    value: float
    threshold: float
    for_seconds: float
    summary: str
    escalation_level: int


EVENT_PAYLOADS: dict[EventType, type[WireModel]] = {
    EventType.TASK_STARTED: TaskStartedPayload,
    EventType.TASK_PROGRESS: TaskProgressPayload,
    EventType.TASK_COMPLETED: TaskCompletedPayload,
    EventType.TASK_FAILED: TaskFailedPayload,
    EventType.TASK_REQUEUED: TaskRequeuedPayload,
    EventType.WORKFLOW_COMPLETED: WorkflowCompletedPayload,
    EventType.WORKFLOW_FAILED: WorkflowFailedPayload,
    EventType.TASK_SKIPPED: TaskSkippedPayload,
    EventType.TASK_CANCELLED: TaskCancelledPayload,
    EventType.WORKFLOW_CANCELLED: WorkflowCancelledPayload,
    EventType.SHUTDOWN: ShutdownPayload,
    EventType.ALERT: AlertPayload,
}


def event_payload(event: Event) -> WireModel:
    """`event`'s payload as its type's model (raises `pydantic.ValidationError` if it does not fit)."""
    return EVENT_PAYLOADS[event.type].model_validate(event.payload)

