"""Task endpoints (seeds 4.2, 4.3): poll, lease reports, interruption, lookups.

A poll answers 204 when nothing fits. ``wait`` turns it into a long poll (bounded by the
`PollPolicy.long_poll_s` field's own upper limit); ``max`` leases several tasks at once,
never more than the worker's free slots. Reports carry the lease's fencing token: a stale
one gets 409 and changes nothing.
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.errors import InvalidInputError
from runtime.orchestrator.auth import require_token
from runtime.orchestrator.deps import Orch, error_responses
from runtime.orchestrator.views import assignment, task_view
from runtime.protocol import (
    PollResponse,
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
    complete_task,
    fail_task,
    get_task,
    interrupt_task,
    lease_next_tasks,
    list_tasks,
    record_progress,
    start_task,
)
from runtime.store.registry import assert_in_rotation, get_worker
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
