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

from runtime.errors import ApiError, InvalidInputError
from runtime.orchestrator.auth import require_token
from runtime.orchestrator.deps import error_responses
from runtime.orchestrator.orchestrator import Orchestrator
from runtime.orchestrator.views import assignment, task_view
from runtime.protocol import (
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
from runtime.store.queue import (
    check_report,
    complete_task,
    fail_task,
    get_task,
    interrupt_task,
    lease_next_tasks,
    list_tasks,
    preload_reports,
    record_progress,
    start_task,
)
from runtime.store.registry import assert_in_rotation, get_worker
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

router = APIRouter(prefix="/api/v1/tasks", tags=["tasks"], dependencies=[Depends(require_token)],
                   responses=error_responses(400, 401, 404, 409, 413, 422, 503))


@router.get("/poll", response_model=PollResponse, responses={204: {"description": "No task fits this worker."}})
async def poll(
    orch: Orch,
    worker_id: Annotated[str, Query(alias="workerId", min_length=1, max_length=128)],
    wait: Annotated[float | None, Query(ge=0, le=MAX_WAIT_S, description="Long-poll seconds.")] = None,
    max_tasks: Annotated[int, Query(alias="max", ge=1, description="Lease up to this many tasks.")] = 1,
) -> Response | PollResponse:
    wait_s = orch.policies.poll.long_poll_s if wait is None else wait
    deadline = time.monotonic() + wait_s
    while True:
        if orch.dispatcher.paused:
            return Response(status_code=204)

        async def _work(session: AsyncSession, changes: ChangeLog) -> tuple[list[TaskAssignment], float]:
            worker = await get_worker(session, worker_id)
            assert_in_rotation(worker)
            tasks = await lease_next_tasks(session, changes, worker, max_tasks, orch.now(),
                                           orch.policies.lease.lease_ttl_s)
            return [assignment(t) for t in tasks], worker.running / worker.max_concurrency

        leased, load = await orch.transact(_work)
        if leased:
            return PollResponse(tasks=leased)
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Response(status_code=204)
        await orch.dispatcher.wait_for_work(load, remaining)


def _ack(task: TaskRow) -> TaskAck:
    return TaskAck(task_id=task.id, status=task.status, fencing_token=task.fencing_token)


@router.post("/started", response_model=TaskAck)
async def started(body: TaskStarted, orch: Orch) -> TaskAck:
    async def _work(session: AsyncSession, changes: ChangeLog) -> TaskAck:
        return _ack(await start_task(session, changes, body, orch.now(), orch.policies.lease.lease_ttl_s))

    return await orch.transact(_work)


@router.post("/progress", response_model=TaskAck)
async def progress(body: TaskProgress, orch: Orch) -> TaskAck:
    async def _work(session: AsyncSession, changes: ChangeLog) -> TaskAck:
        task = await record_progress(session, changes, body, body.percentage, body.step, body.details, orch.now(),
                                     orch.policies.lease.lease_ttl_s)
        return _ack(task)

    return await orch.transact(_work)


@router.post("/completed", response_model=TaskAck)
async def completed(body: TaskCompleted, orch: Orch) -> TaskAck:
    async def _work(session: AsyncSession, changes: ChangeLog) -> TaskAck:
        return _ack(await complete_task(session, changes, body, body.result, orch.now()))

    return await orch.transact(_work)


@router.post("/failed", response_model=TaskAck)
async def failed(body: TaskFailed, orch: Orch) -> TaskAck:
    async def _work(session: AsyncSession, changes: ChangeLog) -> TaskAck:
        return _ack(await fail_task(session, changes, body, body.error, orch.now()))

    return await orch.transact(_work)


@router.post("/interrupted", response_model=TaskAck)
async def interrupted(body: TaskInterrupted, orch: Orch) -> TaskAck:
    """A stopping worker hands its task back (``interrupt`` then ``requeue``) with its saved state."""

    async def _work(session: AsyncSession, changes: ChangeLog) -> TaskAck:
        return _ack(await interrupt_task(session, changes, body, body.state, orch.now()))

    return await orch.transact(_work)


#: Trigger each batched report kind fires (None: the failure trigger for the stored state).
_BATCH_TRIGGERS: dict[ReportKind, str | None] = {ReportKind.STARTED: "start", ReportKind.COMPLETED: "complete",
                                                 ReportKind.FAILED: None}


async def _apply(session: AsyncSession, changes: ChangeLog, report: BatchedReport, orch: Orch) -> TaskRow:
    if report.kind is ReportKind.STARTED:
        return await start_task(session, changes, report, orch.now(), orch.policies.lease.lease_ttl_s)
    if report.kind is ReportKind.COMPLETED:
        return await complete_task(session, changes, report, report.result, orch.now())
    if report.error is None:
        raise InvalidInputError("a failed report needs an error", field="reports.error")
    return await fail_task(session, changes, report, report.error, orch.now())


@router.post("/reports", response_model=ReportBatchResponse)
async def reports(body: ReportBatch, orch: Orch) -> ReportBatchResponse:
    """Lease reports in one transaction, then optionally the next lease (issue 3 "Performance").

    Each report goes through the same checks and `task_lifecycle` transitions as its single
    endpoint, in order; a refused one is answered in its outcome with the status the single
    endpoint would have sent, and changes nothing. Everything answered here is committed.
    """
    if body.lease_max and body.worker_id is None:
        raise InvalidInputError("leaseMax needs the leasing workerId", field="workerId")

    async def _work(session: AsyncSession, changes: ChangeLog) -> ReportBatchResponse:
        outcomes: list[ReportOutcome] = []
        loaded = await preload_reports(session, body.reports)
        for report in body.reports:
            try:
                await check_report(session, report, _BATCH_TRIGGERS[report.kind])
            except ApiError as exc:
                outcomes.append(ReportOutcome(task_id=report.task_id, code=exc.status_code,
                                              error=ErrorBody(field=exc.field, reason=exc.reason)))
                continue
            except IllegalTransitionError as exc:
                outcomes.append(ReportOutcome(task_id=report.task_id, code=409,
                                              error=ErrorBody(field="status", reason=str(exc))))
                continue
            task = await _apply(session, changes, report, orch)
            outcomes.append(ReportOutcome(task_id=task.id, code=200, status=task.status,
                                          fencing_token=task.fencing_token))
        leased: list[TaskAssignment] = []
        if body.lease_max and body.worker_id is not None and not orch.dispatcher.paused:
            worker = await get_worker(session, body.worker_id)  # out of rotation: leases nothing
            tasks = await lease_next_tasks(session, changes, worker, body.lease_max, orch.now(),
                                           orch.policies.lease.lease_ttl_s)
            leased = [assignment(t) for t in tasks]
        del loaded
        return ReportBatchResponse(outcomes=outcomes, tasks=leased)

    return await orch.transact(_work)


@router.get("/{taskId}", response_model=TaskView)
async def task(orch: Orch, task_id: Annotated[str, Path(alias="taskId", min_length=1, max_length=128)]) -> TaskView:
    async with orch.db.read() as session:
        return task_view(await get_task(session, task_id))


@router.get("", response_model=TaskList)
async def tasks(
    orch: Orch,
    status: Annotated[str | None, Query(description="Filter by task_lifecycle state.")] = None,
    workflow_id: Annotated[str | None, Query(alias="workflowId", max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> TaskList:
    if status is not None and status not in TASK_LIFECYCLE.state_names:
        raise InvalidInputError(f"unknown task state {status!r}; states: {', '.join(TASK_LIFECYCLE.state_names)}",
                                field="status")
    async with orch.db.read() as session:
        rows = await list_tasks(session, status, workflow_id, limit, offset)
    return TaskList(tasks=[task_view(r) for r in rows])
