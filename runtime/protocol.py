"""Wire models shared by the orchestrator's HTTP/WebSocket API and the worker client.

Field names are camelCase on the wire (the seed's ``workerId``/``workflowId``) and snake_case
in Python. Every request model forbids unknown fields so a typo gets a 422 naming the field.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from spec.decisions.task_graph import FailurePolicy
from spec.policies import DEFAULT_POLICIES
from spec.task_policies import MAX_TASK_ATTEMPTS
from spec.taxonomy import ErrorClass

#: Capability names: lowercase words joined by '.', '-' or '_' (e.g. "python", "ai.codegen").
CAPABILITY_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:[._-][a-z0-9]+)*$")
MAX_CAPABILITIES = 64
MAX_BODY_BYTES = 1_048_576
#: Deepest nesting a JSON document may have: the recursion limit of pydantic-core's parser, which
#: checks every body first (`runtime.orchestrator.ingress`).
MAX_JSON_DEPTH = 200
#: Largest integer the API accepts in a counter (fencing tokens, offsets, event ids): the largest
#: every JSON client holds exactly (2^53 - 1), well inside a stored 64-bit column. Larger: 422.
MAX_STORED_INT = 2**53 - 1
#: Every per-worker token starts so (``registerResponse.workerToken``); the log redactor masks the shape.
WORKER_TOKEN_PREFIX = "wt_"


def _json_number(value: Any) -> Any:
    """Numbers must be JSON numbers: ``true`` and ``"5"`` are refused, not read as 1 and 5."""
    if isinstance(value, bool | str):
        raise ValueError(f"must be a JSON number, not a {'boolean' if isinstance(value, bool) else 'string'}")
    return value


#: An integer field: a JSON integer (``3`` or ``3.0``), never a boolean or a string.
JsonInt = Annotated[int, BeforeValidator(_json_number)]
#: A number field: a JSON number, never a boolean or a string.
JsonFloat = Annotated[float, BeforeValidator(_json_number)]
#: One capability name.
Capability = Annotated[str, Field(pattern=CAPABILITY_PATTERN.pattern, max_length=128)]


class WireModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class EventType(StrEnum):
    """WebSocket event types (seed 4.3 plus the shutdown notice of 4.4)."""

    TASK_STARTED = "TASK_STARTED"
    TASK_PROGRESS = "TASK_PROGRESS"
    TASK_COMPLETED = "TASK_COMPLETED"
    TASK_FAILED = "TASK_FAILED"
    TASK_REQUEUED = "TASK_REQUEUED"
    WORKFLOW_COMPLETED = "WORKFLOW_COMPLETED"
    WORKFLOW_FAILED = "WORKFLOW_FAILED"
    TASK_SKIPPED = "TASK_SKIPPED"
    TASK_CANCELLED = "TASK_CANCELLED"
    WORKFLOW_CANCELLED = "WORKFLOW_CANCELLED"
    SHUTDOWN = "SHUTDOWN"
    ALERT = "ALERT"


def _check_capabilities(values: list[str]) -> list[str]:
    if len(values) > MAX_CAPABILITIES:
        raise ValueError(f"at most {MAX_CAPABILITIES} capabilities")
    for value in values:
        if not CAPABILITY_PATTERN.match(value):
            raise ValueError(f"invalid capability name {value!r}: use lowercase words joined by '.', '-' or '_'")
    return sorted(set(values))


#: Most tasks one worker may hold at once (``RegisterRequest.max_concurrency``).
MAX_WORKER_SLOTS = 256


#: A task type name (``WorkflowRequest.type``, ``RegisterRequest.task_types``).
TASK_TYPE_PATTERN = r"^[A-Za-z0-9._-]+$"
TaskType = Annotated[str, Field(min_length=1, max_length=64, pattern=TASK_TYPE_PATTERN)]
#: Most task types one worker may advertise.
MAX_TASK_TYPES = 256


class RegisterRequest(WireModel):
    worker_id: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
    capabilities: list[Capability] = Field(min_length=1, max_length=MAX_CAPABILITIES)
    max_concurrency: JsonInt = Field(1, ge=1, le=MAX_WORKER_SLOTS)
    hostname: str = Field("", max_length=255)
    #: The task types this worker has handlers for: it is leased only those. Omitted (older
    #: workers, bench loops): it is offered any type, as before routing by type existed.
    task_types: list[TaskType] | None = Field(None, min_length=1, max_length=MAX_TASK_TYPES)

    @field_validator("task_types")
    @classmethod
    def _distinct_types(cls, values: list[str] | None) -> list[str] | None:
        return None if values is None else sorted(set(values))

    @field_validator("capabilities")
    @classmethod
    def _valid_capabilities(cls, values: list[str]) -> list[str]:
        return _check_capabilities(values)


class RegisterResponse(WireModel):
    worker_id: str
    #: The bearer token only this worker id holds: send it on every later request of this worker.
    worker_token: str
    heartbeat_interval_s: float
    heartbeat_timeout_s: float
    lease_ttl_s: float


class WorkerHealth(WireModel):
    status: str = Field("healthy", pattern=r"^(healthy|unhealthy)$")
    cpu_percent: JsonFloat = Field(0.0, ge=0, le=100_000)
    memory_percent: JsonFloat = Field(0.0, ge=0, le=100)
    disk_percent: JsonFloat = Field(0.0, ge=0, le=100)
    running_tasks: JsonInt = Field(0, ge=0, le=MAX_WORKER_SLOTS)


class HeartbeatRequest(WireModel):
    worker_id: str = Field(min_length=1, max_length=128)
    health: WorkerHealth = WorkerHealth()
    #: The tasks this worker still holds (running, or reporting their outcome). Only their leases
    #: are renewed: a lease the worker gave up on (e.g. its outcome never got through) expires and
    #: the task is re-queued. Omitted (older workers): every lease the worker holds is renewed.
    held_task_ids: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        None, max_length=MAX_WORKER_SLOTS)


class HeartbeatResponse(WireModel):
    status: str = "ok"
    cancel_task_ids: list[str] = Field(default_factory=list)
    shutting_down: bool = False


class TaskAssignment(WireModel):
    task_id: str
    workflow_id: str
    type: str
    payload: dict[str, Any]
    priority: int
    fencing_token: int
    lease_expires_at: float
    attempt: int
    #: State the previous holder handed back when interrupted (seed 4.4 ``saveTaskState``); empty at first.
    saved_state: dict[str, Any] = Field(default_factory=dict)
    #: The results of the tasks this one depends on, by their ids in the submission (multi-task workflows).
    dependencies: dict[str, dict[str, Any]] = Field(default_factory=dict)


class PollResponse(WireModel):
    tasks: list[TaskAssignment]


class LeaseReport(WireModel):
    """Common part of every task report: who reports, under which lease."""

    task_id: str = Field(min_length=1, max_length=128)
    worker_id: str = Field(min_length=1, max_length=128)
    fencing_token: JsonInt = Field(ge=0, le=MAX_STORED_INT)


class TaskStarted(LeaseReport):
    pass


class TaskProgress(LeaseReport):
    percentage: JsonFloat = Field(ge=0, le=100)
    step: str = Field("", max_length=200)
    details: dict[str, Any] = Field(default_factory=dict)
    #: A significant milestone: always recorded. Others are coalesced to one per
    #: `ProgressPolicy.interval_s` per task, by the worker and again by the orchestrator.
    milestone: StrictBool = False
    #: The handler's saved state (`TaskContext.save_state`), sent when it changed since the last
    #: report: the orchestrator keeps it, so a task re-queued without a hand-back (its worker went
    #: silent, no restarted process reported it interrupted in time) still resumes from it.
    state: dict[str, Any] | None = None


class TaskCompleted(LeaseReport):
    result: dict[str, Any] = Field(default_factory=dict)


class TaskError(WireModel):
    code: str = Field(min_length=1, max_length=64)
    error_class: str = Field("unknown", max_length=32)
    message: str = Field("", max_length=4000)


class TaskFailed(LeaseReport):
    error: TaskError


class TaskInterrupted(LeaseReport):
    state: dict[str, Any] = Field(default_factory=dict)


class TaskRetryOverride(WireModel):
    """A task's own `spec.policies.TaskRetryPolicy` fields, over the orchestrator's (omitted: its value)."""

    #: Constraints before the JSON-number check, so the schema says minimum/maximum (not raw ge/le).
    max_attempts: Annotated[int, Field(ge=1, le=MAX_TASK_ATTEMPTS), BeforeValidator(_json_number)] | None = None
    retry_on: Annotated[list[ErrorClass], Field(max_length=len(ErrorClass),
                                                json_schema_extra={"uniqueItems": True})] | None = None

    @field_validator("retry_on")
    @classmethod
    def _distinct_classes(cls, values: list[ErrorClass] | None) -> list[ErrorClass] | None:
        if values is not None and len(set(values)) != len(values):
            raise ValueError("lists an error class twice")
        return values

    def policy_fields(self) -> dict[str, Any] | None:
        """The overridden `TaskRetryPolicy` fields as stored (snake_case, JSON values); None if none."""
        fields = self.model_dump(mode="json", exclude_none=True)
        return fields or None


class WorkflowRequest(WireModel):
    type: TaskType
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: JsonInt = Field(5, ge=0, le=DEFAULT_POLICIES.lease.max_priority)
    required_capabilities: list[Capability] = Field(default_factory=list, max_length=MAX_CAPABILITIES)
    #: Retries of this task: e.g. ``{"maxAttempts": 3}``; omitted fields keep the orchestrator's policy.
    retry: TaskRetryOverride | None = None

    @field_validator("required_capabilities")
    @classmethod
    def _valid_capabilities(cls, values: list[str]) -> list[str]:
        return _check_capabilities(values)


class WorkflowCreated(WireModel):
    workflow_id: str
    task_ids: list[str]


#: Most workflows one ``POST /api/v1/workflows:batch`` may carry; more: 422 naming ``workflows``.
#: The body limit (`MAX_BODY_BYTES`, 413) still applies to the whole batch.
MAX_BATCH_WORKFLOWS = 1000


class WorkflowBatchRequest(WireModel):
    """Several workflows, each exactly as ``POST /api/v1/workflows`` takes it, stored all or nothing.

    An invalid item refuses the whole batch with 422 naming its index (``workflows.3.payload``).
    """

    workflows: list[WorkflowRequest] = Field(min_length=1, max_length=MAX_BATCH_WORKFLOWS)


class WorkflowBatchCreated(WireModel):
    """One `WorkflowCreated` per submitted workflow, in the order of the request."""

    workflows: list[WorkflowCreated]


class ErrorBody(WireModel):
    """Every 4xx/5xx body: ``{"error": {"field": "...", "reason": "..."}}``."""

    field: str | None = None
    reason: str


class Event(WireModel):
    """One WebSocket event; ``id`` increases per workflow so a client can resume."""

    id: int
    type: EventType
    workflow_id: str
    task_id: str | None = None
    time: float
    payload: dict[str, Any] = Field(default_factory=dict)


class SubscribeMessage(WireModel):
    """Client → server: ``{"type": "subscribe", "workflowId": "...", "lastEventId": 12}``."""

    type: str = Field(pattern=r"^subscribe$")
    workflow_id: str = Field(min_length=1, max_length=128)
    last_event_id: JsonInt | None = Field(None, ge=0, le=MAX_STORED_INT)


# -- Orchestrator responses and listings (added with the orchestrator API) -------------------


class ErrorResponse(WireModel):
    error: ErrorBody


class TaskAck(WireModel):
    """Answer to a lease report: the task's state after it, under which lease."""

    task_id: str
    status: str
    fencing_token: int


class TaskView(WireModel):
    task_id: str
    workflow_id: str
    type: str
    status: str
    priority: int
    required_capabilities: list[str]
    #: Lease holder and fencing token: shown to admin and worker credentials only (null for clients).
    lease_worker: str | None
    lease_expires_at: float | None
    fencing_token: int | None
    attempt: int
    progress: float
    progress_step: str
    result: dict[str, Any] | None
    error: dict[str, Any] | None
    enqueued_at: float
    updated_at: float
    saved_state: dict[str, Any] = Field(default_factory=dict)
    #: A retried task is not leased before this time (null: at once).
    not_before: float | None = None
    #: Why a queued task is not being leased yet (a retry's backoff, no live worker for its type); null otherwise.
    waiting_for: str | None = None
    #: The task's id in its workflow's submission, and the ids it depends on (multi-task workflows; else null, []).
    key: str | None = None
    depends_on: list[str] = Field(default_factory=list)


class TaskList(WireModel):
    tasks: list[TaskView]


class WorkflowView(WireModel):
    workflow_id: str
    type: str
    status: str
    priority: int
    payload: dict[str, Any]
    created_at: float
    updated_at: float
    tasks: list[TaskView]
    failure_policy: FailurePolicy = FailurePolicy.FAIL_FAST


class WorkerView(WireModel):
    worker_id: str
    status: str
    capabilities: list[str]
    hostname: str
    max_concurrency: int
    running: int
    health: dict[str, Any]
    last_heartbeat: float
    registered_at: float
    #: The task types it is leased; null: any type.
    task_types: list[str] | None = None


class WorkerList(WireModel):
    workers: list[WorkerView]


class ReportKind(StrEnum):
    """Lease reports a batch may carry; each is the same report as its single endpoint."""

    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"


#: Most reports one batch may carry: one per slot of the busiest worker.
MAX_BATCH_REPORTS = MAX_WORKER_SLOTS


class BatchedReport(LeaseReport):
    """One report of a batch, as the store applies it; on the wire it is one of the three kinds below."""

    kind: ReportKind
    result: dict[str, Any] = Field(default_factory=dict)
    error: TaskError | None = None

    @model_validator(mode="after")
    def _failed_needs_error(self) -> BatchedReport:
        if self.kind is ReportKind.FAILED and self.error is None:
            raise ValueError("a failed report needs an error")
        return self


class StartedReport(BatchedReport):
    kind: Literal[ReportKind.STARTED]


class CompletedReport(BatchedReport):
    kind: Literal[ReportKind.COMPLETED]


class FailedReport(BatchedReport):
    kind: Literal[ReportKind.FAILED]
    error: TaskError


#: A batched report, told apart by ``kind`` (so the schema says a failed one needs its error).
AnyReport = Annotated[StartedReport | CompletedReport | FailedReport, Field(discriminator="kind")]


class ReportBatch(WireModel):
    """Several lease reports in one transaction, then optionally a lease for `worker_id` (no wait).

    Saves round trips, not semantics: each report is checked and applied exactly as its single
    endpoint would, in order; a refused one is answered in its outcome and changes nothing.
    """

    #: Leasing needs to know for whom: a ``leaseMax`` without ``workerId`` is refused (422).
    model_config = ConfigDict(json_schema_extra={"dependentRequired": {"leaseMax": ["workerId"]}})

    reports: list[AnyReport] = Field(default_factory=list, max_length=MAX_BATCH_REPORTS)
    #: Omitted when the batch leases nothing; never ``null`` (the schema says a string).
    worker_id: Annotated[str | None, WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 128})] = Field(
        None, min_length=1, max_length=128)
    lease_max: JsonInt = Field(0, ge=0, le=MAX_BATCH_REPORTS)

    @field_validator("worker_id", mode="before")
    @classmethod
    def _omitted_not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("workerId may be omitted, not null")
        return value


class ReportOutcome(WireModel):
    """One report's answer: the `TaskAck` fields, or the refusal a single endpoint would have sent."""

    task_id: str
    code: int
    status: str | None = None
    fencing_token: int | None = None
    error: ErrorBody | None = None


class ReportBatchResponse(WireModel):
    outcomes: list[ReportOutcome]
    tasks: list[TaskAssignment] = Field(default_factory=list)


class ReloadView(WireModel):
    """The last configuration reload (`runtime.orchestrator.config_watch`), as ``GET /api/v1/config`` shows it."""

    at: str = Field(description="When the reload ended, RFC 3339 (UTC).")
    outcome: str = Field(description="The config_reload trigger that ended it: applied, unchanged, invalid "
                         "or restart_required.")
    message: str = Field(description="What happened; for a refused edit, the file and the field.")
    fields: list[str] = Field(description="Fields applied, or refused because they need a restart.")


class ConfigView(WireModel):
    """``GET /api/v1/config``: the configuration in effect, secrets masked, and the last reload."""

    config: dict[str, Any] = Field(description="The effective configuration; secrets are masked.")
    file: str | None = Field(description="The configuration file watched for hot reload (null: none).")
    reloadable: list[str] = Field(description="Fields (dotted prefixes) a reload may change.")
    restart_required: list[str] = Field(description="Fields (dotted prefixes) whose change a reload refuses.")
    watching: bool = Field(description="Whether the file watch is running.")
    last_reload: ReloadView | None = Field(description="The last reload since startup (null: none yet).")
