"""Task endpoints (seeds 4.2, 4.3): poll, lease reports, interruption, lookups.

A poll answers 204 when nothing fits. ``wait`` turns it into a long poll (bounded by the
`PollPolicy.long_poll_s` field's own upper limit); ``max`` leases several tasks at once,
never more than the worker's free slots. Reports carry the lease's fencing token: a stale
one gets 409 and changes nothing.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.errors import InvalidInputError, TooManyRequestsError
from runtime.orchestrator.access import require_worker
from runtime.orchestrator.auth import Caller
from runtime.orchestrator.deps import error_responses
from runtime.orchestrator.orchestrator import Orchestrator
from runtime.orchestrator.views import task_view
from runtime.protocol import (
    MAX_STORED_INT,
    BatchedReport,
    ErrorBody,
    PollResponse,
    ReportBatch,
    ReportBatchResponse,
    ReportKind,
    ReportOutcome,
    TaskAck,
    TaskAssignment,
    TaskCompleted,
    TaskFailed,
    TaskInterrupted,
    TaskList,
    TaskProgress,
    TaskStarted,
    TaskView,
)
from runtime.store.changes import ChangeLog
from runtime.store.models import TaskRow
from runtime.store.queue import get_task, interrupt_task, lease_next_tasks, leased_task, list_tasks, record_progress
from runtime.store.registry import assert_in_rotation, live_routing
from runtime.store.reports import ReportApplied, ReportRefused, apply_report, apply_reports
from spec.decisions.task_retry import TaskRetryRules
from spec.errors import IllegalTransitionError
from spec.machines import TASK_LIFECYCLE
from spec.policies import PollPolicy


def _field_upper_bound(model: type[PollPolicy], name: str) -> float:
    for meta in model.model_fields[name].metadata:
        bound = getattr(meta, "le", None)
        if bound is not None:
            return float(bound)
    raise LookupError(f"{model.__name__}.{name} declares no upper bound")


#: Longest server-side wait a poll may ask for: the spec's own bound on ``PollPolicy.long_poll_s``.
MAX_WAIT_S = _field_upper_bound(PollPolicy, "long_poll_s")

async def _orchestrator(request: Request) -> Orchestrator:
    """``deps.get_orchestrator`` without its thread-pool hop: FastAPI runs a plain ``def`` dependency in a thread."""
    orch: Orchestrator = request.app.state.orchestrator
    return orch


Orch = Annotated[Orchestrator, Depends(_orchestrator)]

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"],
                   responses=error_responses(400, 401, 403, 404, 409, 413, 422, 429, 503))


@router.get("/poll", response_model=PollResponse, responses={204: {"description": "No task fits this worker."}})
async def poll(
    orch: Orch,
    credential: Caller,
    worker_id: Annotated[str, Query(alias="workerId", min_length=1, max_length=128)],
    wait: Annotated[float | None, Query(ge=0, le=MAX_WAIT_S, description="Long-poll seconds.")] = None,
    max_tasks: Annotated[int, Query(alias="max", ge=1, description="Lease up to this many tasks.")] = 1,
) -> Response:
    require_worker(credential, worker_id)
    wait_s = orch.policies.poll.long_poll_s if wait is None else wait
    deadline = time.monotonic() + wait_s
    while True:
        if orch.dispatcher.paused:
            return Response(status_code=204)

        async def _work(session: AsyncSession, changes: ChangeLog) -> tuple[list[TaskAssignment], float]:
            lease = await lease_next_tasks(session, changes, worker_id, max_tasks, orch.now(),
                                           orch.policies.lease.lease_ttl_s)
            assert_in_rotation(worker_id, lease.worker_status)
            return lease.tasks, lease.load

        leased, load = await orch.transact(_work)
        if leased:
            return _json(PollResponse(tasks=leased))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Response(status_code=204)
        await orch.dispatcher.wait_for_work(load, remaining)


def _json(answer: PollResponse | ReportBatchResponse) -> Response:
    """The answer already built and valid: serialise it once (FastAPI would validate it again first)."""
    return Response(answer.model_dump_json(by_alias=True), media_type="application/json")


def _ack(task: TaskRow) -> TaskAck:
    return TaskAck(task_id=task.id, status=task.status, fencing_token=task.fencing_token)


async def _report(orch: Orchestrator, report: BatchedReport) -> TaskAck:
    """A single-report endpoint: the batch path with one report; a refusal is raised (4xx)."""

    async def _work(session: AsyncSession, changes: ChangeLog) -> TaskAck:
        applied = await apply_report(session, changes, report, orch.now(), orch.policies.lease.lease_ttl_s,
                                     TaskRetryRules.from_policies(orch.policies))
        return TaskAck(task_id=applied.task_id, status=applied.status, fencing_token=applied.fencing_token)

    return await orch.transact(_work)


@router.post("/started", response_model=TaskAck)
async def started(body: TaskStarted, orch: Orch, credential: Caller) -> TaskAck:
    require_worker(credential, body.worker_id)
    return await _report(orch, BatchedReport.model_construct(kind=ReportKind.STARTED, **dict(body)))


@router.post("/progress", response_model=TaskAck)
async def progress(body: TaskProgress, orch: Orch, credential: Caller) -> TaskAck:
    """Progress, at most at `ProgressPolicy`'s rate per task (429 with ``Retry-After`` beyond it)."""
    require_worker(credential, body.worker_id)
    async def _work(session: AsyncSession, changes: ChangeLog) -> TaskAck:
        await leased_task(session, body)  # 404/409 first: only a lease holder's reports count against its rate
        admission = orch.progress_gates.admit(body.task_id, orch.monotonic(), body.milestone)
        if not admission.allowed:
            kind = "milestones" if body.milestone else "progress reports"
            raise TooManyRequestsError(
                f"task {body.task_id}: {kind} arrive faster than ProgressPolicy allows "
                f"(interval_s, milestone_min_gap_s); retry in {admission.retry_after_s:.2f} s",
                retry_after_s=admission.retry_after_s, field="milestone" if body.milestone else "percentage")
        task = await record_progress(session, changes, body, body.percentage, body.step, body.details, orch.now(),
                                     orch.policies.lease.lease_ttl_s, body.state)
        return _ack(task)

    return await orch.transact(_work)


@router.post("/completed", response_model=TaskAck)
async def completed(body: TaskCompleted, orch: Orch, credential: Caller) -> TaskAck:
    require_worker(credential, body.worker_id)
    return await _report(orch, BatchedReport.model_construct(kind=ReportKind.COMPLETED, **dict(body)))


@router.post("/failed", response_model=TaskAck)
async def failed(body: TaskFailed, orch: Orch, credential: Caller) -> TaskAck:
    require_worker(credential, body.worker_id)
    return await _report(orch, BatchedReport.model_construct(kind=ReportKind.FAILED, **dict(body)))


@router.post("/interrupted", response_model=TaskAck)
async def interrupted(body: TaskInterrupted, orch: Orch, credential: Caller) -> TaskAck:
    """A stopping worker hands its task back (``interrupt`` then ``requeue``) with its saved state."""
    require_worker(credential, body.worker_id)

    async def _work(session: AsyncSession, changes: ChangeLog) -> TaskAck:
        return _ack(await interrupt_task(session, changes, body, body.state, orch.now()))

    return await orch.transact(_work)


def _outcome(answer: ReportApplied | ReportRefused) -> ReportOutcome:
    if isinstance(answer, ReportApplied):
        return ReportOutcome(task_id=answer.task_id, code=200, status=answer.status,
                             fencing_token=answer.fencing_token)
    error = answer.error
    if isinstance(error, IllegalTransitionError):
        return ReportOutcome(task_id=answer.task_id, code=409, error=ErrorBody(field="status", reason=str(error)))
    return ReportOutcome(task_id=answer.task_id, code=error.status_code,
                         error=ErrorBody(field=error.field, reason=error.reason))


@router.post("/reports", response_model=ReportBatchResponse)
async def reports(body: ReportBatch, orch: Orch, credential: Caller) -> Response:
    """Lease reports in one transaction, then optionally the next lease (issue 3 "Performance").

    Each report goes through the same checks and `task_lifecycle` transitions as its single
    endpoint, in order; a refused one is answered in its outcome with the status the single
    endpoint would have sent, and changes nothing. Everything answered here is committed.
    """
    if "lease_max" in body.model_fields_set and body.worker_id is None:  # the schema's dependentRequired
        raise InvalidInputError("leaseMax needs the leasing workerId", field="workerId")
    if body.worker_id is not None:
        require_worker(credential, body.worker_id)
    for index, report in enumerate(body.reports):
        require_worker(credential, report.worker_id, field=f"reports.{index}.workerId")

    async def _work(session: AsyncSession, changes: ChangeLog) -> ReportBatchResponse:
        answers = await apply_reports(session, changes, body.reports, orch.now(), orch.policies.lease.lease_ttl_s,
                                      TaskRetryRules.from_policies(orch.policies))
        leased: list[TaskAssignment] = []
        if body.lease_max and body.worker_id is not None and not orch.dispatcher.paused:
            lease = await lease_next_tasks(session, changes, body.worker_id, body.lease_max, orch.now(),
                                           orch.policies.lease.lease_ttl_s)  # out of rotation: leases nothing
            leased = lease.tasks
        return ReportBatchResponse(outcomes=[_outcome(a) for a in answers], tasks=leased)

    return _json(await orch.transact(_work))


@router.get("/{taskId}", response_model=TaskView)
async def task(
    orch: Orch, credential: Caller, task_id: Annotated[str, Path(alias="taskId", min_length=1, max_length=128)]
) -> TaskView:
    async with orch.db.read() as session:
        row = await get_task(session, task_id)
        routing = await live_routing(session) if row.status == TASK_LIFECYCLE.initial else None
        return task_view(row, leases=credential.sees_leases, routing=routing, now=orch.now())


@router.get("", response_model=TaskList)
async def tasks(
    orch: Orch,
    credential: Caller,
    status: Annotated[str | None, Query(description="Filter by task_lifecycle state.",
                                        pattern=f"^({'|'.join(TASK_LIFECYCLE.state_names)})$")] = None,
    workflow_id: Annotated[str | None, Query(alias="workflowId", max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_STORED_INT)] = 0,
) -> TaskList:
    if status is not None and status not in TASK_LIFECYCLE.state_names:
        raise InvalidInputError(f"unknown task state {status!r}; states: {', '.join(TASK_LIFECYCLE.state_names)}",
                                field="status")
    async with orch.db.read() as session:
        rows = await list_tasks(session, status, workflow_id, limit, offset)
        queued = any(r.status == TASK_LIFECYCLE.initial for r in rows)
        routing = await live_routing(session) if queued else None
    now = orch.now()
    return TaskList(tasks=[task_view(r, leases=credential.sees_leases, routing=routing, now=now) for r in rows])
