"""The durable task queue (seeds 4.2, 4.3): enqueue, lease, report, re-queue.

Every status change is a `task_lifecycle` (or `workflow_lifecycle`/`worker_lifecycle`)
transition validated on the spec machine from the stored state. Leases carry an expiry and a
fencing token: each lease and each revocation bumps the token, so a report carrying an older
token is refused (409) and a task is never completed twice.

Scheduling (issue 3 §4): the polling worker gets the queued tasks whose every required
capability it has, in ``sort_key`` order (priority with aging, see `runtime.store.models`);
the least-loaded choice across workers is made by `runtime.orchestrator.dispatch`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.errors import ConflictError, NotFoundError
from runtime.protocol import EventType, LeaseReport, TaskAssignment, WorkflowRequest
from runtime.store.changes import ChangeLog, task_component, worker_component, workflow_component
from runtime.store.dependency_results import with_dependency_results
from runtime.store.event_log import append_event
from runtime.store.models import (
    TASK_REQUIREMENTS,
    TASKS,
    WORKFLOWS,
    TaskRequirementRow,
    TaskRow,
    WorkerRow,
    WorkflowRow,
)
from runtime.store.queue_rows import LeaseGrant, SqliteQueueRows, queue_rows
from spec.decisions.liveness import lease_expired_by
from spec.decisions.scheduling import lease_size, sort_key
from spec.decisions.task_graph import interrupted_trigger, lease_end_trigger
from spec.machines import TASK_LIFECYCLE, WORKER_LIFECYCLE, WORKFLOW_LIFECYCLE
from spec.machines.task_lifecycle import TaskTrigger
from spec.taxonomy import FailureCode

TASK, WORKER, WORKFLOW = TASK_LIFECYCLE.name, WORKER_LIFECYCLE.name, WORKFLOW_LIFECYCLE.name

QUEUED = TASK_LIFECYCLE.initial
ASSIGNED = TASK_LIFECYCLE.next_state(QUEUED, "assign")
RUNNING = TASK_LIFECYCLE.next_state(ASSIGNED, "start")
COMPLETED = TASK_LIFECYCLE.next_state(RUNNING, "complete")
#: States in which a task holds a lease (the ones ``lease_lost`` leaves).
LEASED = tuple(s for s in TASK_LIFECYCLE.state_names if "lease_lost" in TASK_LIFECYCLE.allowed_triggers(s))

W_IDLE = WORKER_LIFECYCLE.next_state("registering", "capabilities_accepted")
W_POLLING = WORKER_LIFECYCLE.next_state(W_IDLE, "poll")
W_BUSY = WORKER_LIFECYCLE.next_state(W_POLLING, "task_received")
W_GONE = WORKER_LIFECYCLE.next_state(W_IDLE, "deregister")

WF_PENDING = WORKFLOW_LIFECYCLE.next_state(WORKFLOW_LIFECYCLE.initial, "submit")
WF_RUNNING = WORKFLOW_LIFECYCLE.next_state(WF_PENDING, "task_started")
#: Workflows not yet settled: recovery resumes these.
WF_ACTIVE = (WF_PENDING, WF_RUNNING)


def _new_rows(
    changes: ChangeLog, request: WorkflowRequest, now: float, aging_interval_s: float
) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """The workflow, task and requirement rows of one submission (its ``submit`` transition recorded)."""
    workflow_id = f"wf-{uuid.uuid4().hex}"
    task_id = f"t-{uuid.uuid4().hex}"
    status = changes.advance(WORKFLOW, workflow_component(workflow_id), WORKFLOW_LIFECYCLE.initial, "submit",
                             {"type": request.type})
    workflow = {"id": workflow_id, "type": request.type, "status": status, "priority": request.priority,
                "payload": request.payload, "created_at": now, "updated_at": now}
    task = {
        "id": task_id, "workflow_id": workflow_id, "type": request.type, "payload": request.payload,
        "status": QUEUED, "priority": request.priority, "enqueued_at": now,
        "sort_key": sort_key(now, request.priority, aging_interval_s),
        "required_capabilities": list(request.required_capabilities), "fencing_token": 0, "attempt": 0,
        "progress": 0.0, "progress_step": "", "cancel_requested": False, "updated_at": now,
        "not_before": 0.0, "retry": request.retry.policy_fields() if request.retry is not None else None,
    }
    requirements = [{"task_id": task_id, "capability": c} for c in request.required_capabilities]
    changes.tasks_queued += 1
    return workflow, task, requirements


async def submit_workflow(
    session: AsyncSession, changes: ChangeLog, request: WorkflowRequest, now: float, aging_interval_s: float
) -> tuple[WorkflowRow, list[TaskRow]]:
    """Store a workflow and enqueue its task (seed 4.3 ``createWorkflow``/``enqueue``)."""
    workflow_values, task_values, requirements = _new_rows(changes, request, now, aging_interval_s)
    workflow, task = WorkflowRow(**workflow_values), TaskRow(**task_values)
    session.add(workflow)
    await session.flush()
    session.add(task)
    await session.flush()
    session.add_all(TaskRequirementRow(**r) for r in requirements)
    return workflow, [task]


async def submit_workflows(
    session: AsyncSession, changes: ChangeLog, requests: Sequence[WorkflowRequest], now: float,
    aging_interval_s: float,
) -> list[tuple[str, str]]:
    """Store several workflows at once (``POST /api/v1/workflows:batch``): ``(workflowId, taskId)`` each, in order.

    The same rows and ``submit`` transitions as `submit_workflow`, written by three set-based
    ``INSERT``s instead of an ORM flush per row: the per-row cost is what bounds bulk submission.
    All or nothing, as the caller's transaction is.
    """
    workflows, tasks, requirements = [], [], []
    for request in requests:
        workflow, task, required = _new_rows(changes, request, now, aging_interval_s)
        workflows.append(workflow)
        tasks.append(task)
        requirements += required
    await session.execute(insert(WORKFLOWS), workflows)
    await session.execute(insert(TASKS), tasks)
    if requirements:
        await session.execute(insert(TASK_REQUIREMENTS), requirements)
    return [(t["workflow_id"], t["id"]) for t in tasks]


@dataclass(frozen=True)
class Lease:
    """What one lease request got: the tasks (best first), and the worker's state and load after it."""

    tasks: list[TaskAssignment]
    worker_status: str
    load: float


async def lease_next_tasks(
    session: AsyncSession, changes: ChangeLog, worker_id: str, max_tasks: int, now: float, lease_ttl_s: float
) -> Lease:
    """Lease up to `max_tasks` (bounded by the worker's free slots) of the best matching tasks.

    One ``UPDATE ... WHERE id IN (best queued tasks) RETURNING`` statement leases them all, then
    each lease is fired on the `task_lifecycle` machine (``queued`` → ``assigned``, which the
    ``WHERE`` guarantees was the source). A worker out of rotation leases nothing.
    """
    rows = await queue_rows(session)
    found = await rows.workers([worker_id])
    if not found:
        raise unknown_worker(worker_id)
    (worker,) = found
    wanted = lease_size(max_tasks, worker.max_concurrency, worker.running)
    if worker.status not in (W_IDLE, W_BUSY) or wanted <= 0:
        return Lease([], worker.status, worker.running / worker.max_concurrency)
    component = worker_component(worker.id, worker.incarnation)
    status = worker.status
    if status == W_IDLE:
        changes.advance(WORKER, component, status, "poll")
    leased = await with_dependency_results(session, await rows.lease(LeaseGrant(
        worker.id, worker.capabilities, wanted, QUEUED, ASSIGNED, now + lease_ttl_s, now, worker.task_types)),
        rows.db if isinstance(rows, SqliteQueueRows) else None)
    for task in leased:
        changes.advance(TASK, task_component(task.task_id), QUEUED, "assign",
                        {"workerId": worker.id, "fencingToken": task.fencing_token})
    if status == W_IDLE:
        status = changes.advance(WORKER, component, W_POLLING, "task_received" if leased else "no_task_available")
    running = worker.running + len(leased)
    if leased or status != worker.status:
        await rows.update_workers([(worker.id, status, running)])
    return Lease(leased, status, running / worker.max_concurrency)


async def get_task(session: AsyncSession, task_id: str) -> TaskRow:
    task = await session.get(TaskRow, task_id)
    if task is None:
        raise unknown_task(task_id)
    return task


async def get_workflow(session: AsyncSession, workflow_id: str) -> WorkflowRow:
    workflow = await session.get(WorkflowRow, workflow_id)
    if workflow is None:
        raise NotFoundError(f"unknown workflow {workflow_id!r}", field="workflowId")
    return workflow


def unknown_task(task_id: str) -> NotFoundError:
    return NotFoundError(f"unknown task {task_id!r}", field="taskId")


def unknown_worker(worker_id: str) -> NotFoundError:
    return NotFoundError(f"unknown worker {worker_id!r}; register it first", field="workerId")


def check_lease(task_id: str, holder: str | None, fencing_token: int, report: LeaseReport) -> None:
    """Refuse (409) a report whose sender no longer holds the task's lease under this token."""
    if holder != report.worker_id or fencing_token != report.fencing_token:
        raise ConflictError(
            f"stale lease: task {task_id} is now under fencing token {fencing_token} "
            f"(leased to {holder or 'nobody'}); this report carries {report.fencing_token} from {report.worker_id}",
            field="fencingToken",
        )


async def leased_task(session: AsyncSession, report: LeaseReport) -> TaskRow:
    """The task a report is about, provided the reporter still holds its lease."""
    task = await get_task(session, report.task_id)
    if await session.get(WorkerRow, report.worker_id) is None:
        raise unknown_worker(report.worker_id)
    check_lease(task.id, task.lease_worker, task.fencing_token, report)
    return task


def failure_trigger(status: str, code: str) -> str:
    """The task trigger a failure report fires: before start, during the run, or at the time limit."""
    if status == ASSIGNED:
        return "allocation_failed"
    return "time_out" if code == FailureCode.TIMEOUT.value else "fail"


async def record_progress(
    session: AsyncSession, changes: ChangeLog, report: LeaseReport, percentage: float, step: str,
    details: dict[str, object], now: float, ttl: float, state: dict[str, Any] | None = None,
) -> TaskRow:
    """A progress report renews the lease; a `state` that came with it replaces the task's saved state."""
    task = await leased_task(session, report)
    task.status = changes.advance(TASK, task_component(task.id), task.status, "progress",
                                  {"percentage": percentage, "step": step})
    if state is not None:
        task.saved_state = dict(state)
    task.progress = percentage
    task.progress_step = step
    task.lease_expires_at = now + ttl
    task.updated_at = now
    await append_event(session, changes, EventType.TASK_PROGRESS, task.workflow_id, task.id, now,
                       {"percentage": percentage, "step": step, "details": details})
    return task


async def interrupt_task(
    session: AsyncSession, changes: ChangeLog, report: LeaseReport, state: dict[str, object], now: float
) -> TaskRow:
    """A stopping worker hands its task back with its saved state (seed 4.4 ``reportTaskInterrupted``)."""
    task = await leased_task(session, report)
    task.saved_state = dict(state)
    if task.status == RUNNING:
        task.status = changes.advance(TASK, task_component(task.id), task.status, "interrupt")
        await _requeue(session, changes, task, "requeue", now, "interrupted by its worker")
    else:
        await _requeue(session, changes, task, "lease_lost", now, "interrupted before it started")
    return task


async def _requeue(
    session: AsyncSession, changes: ChangeLog, task: TaskRow, trigger: str, now: float, reason: str
) -> None:
    """End `task`'s lease by `trigger` (``requeue`` after an interruption, else ``lease_lost``).

    A task whose workflow is already over (cancelled, failed fast) is not re-queued: it ends
    cancelled (`spec.decisions.task_graph.lease_end_trigger`).
    """
    workflow = await session.get(WorkflowRow, task.workflow_id)
    active = workflow is None or workflow.status in WF_ACTIVE
    trigger = interrupted_trigger(active) if trigger == TaskTrigger.REQUEUE else lease_end_trigger(active)
    requeued = TASK_LIFECYCLE.next_state(task.status, trigger) == QUEUED
    if not requeued and workflow is not None:
        reason = f"{reason}; its workflow is {workflow.status}"
    task.status = changes.advance(TASK, task_component(task.id), task.status, trigger, {"reason": reason})
    await _release_lease(session, changes, task, now)
    task.fencing_token += 1  # fences the old holder's reports
    task.lease_worker = None
    if requeued:
        changes.tasks_queued += 1
        await append_event(session, changes, EventType.TASK_REQUEUED, task.workflow_id, task.id, now,
                           {"reason": reason})
    else:
        await append_event(session, changes, EventType.TASK_CANCELLED, task.workflow_id, task.id, now,
                           {"reason": reason})


async def _release_lease(session: AsyncSession, changes: ChangeLog, task: TaskRow, now: float) -> None:
    task.lease_expires_at = None
    task.cancel_requested = False
    task.updated_at = now
    if task.lease_worker is None:
        return
    worker = await session.get(WorkerRow, task.lease_worker)
    if worker is None:
        return
    worker.status, worker.running = free_slot(changes, worker.id, worker.incarnation, worker.status, worker.running)


def free_slot(changes: ChangeLog, worker_id: str, incarnation: int, status: str, running: int) -> tuple[str, int]:
    """A lease ended: the worker's (status, running) after one slot is freed.

    A busy worker with no task left becomes idle (``task_finished``).
    """
    running = max(0, running - 1)
    if running == 0 and status == W_BUSY:
        status = changes.advance(WORKER, worker_component(worker_id, incarnation), status, "task_finished")
    return status, running


async def requeue_worker_tasks(
    session: AsyncSession, changes: ChangeLog, worker_id: str, now: float, reason: str
) -> int:
    """Re-queue every task leased to `worker_id` (``lease_lost``); returns how many."""
    tasks = (
        await session.scalars(
            select(TaskRow).where(TaskRow.lease_worker == worker_id, TaskRow.status.in_(LEASED)).order_by(TaskRow.id)
        )
    ).all()
    for task in tasks:
        await _requeue(session, changes, task, "lease_lost", now, reason)
    return len(tasks)


async def expire_stale_leases(session: AsyncSession, changes: ChangeLog, now: float) -> int:
    """Re-queue tasks whose lease expired without renewal."""
    tasks = (
        await session.scalars(
            select(TaskRow)
            .where(TaskRow.status.in_(LEASED), lease_expired_by(TaskRow.lease_expires_at, now))
            .order_by(TaskRow.id)
        )
    ).all()
    for task in tasks:
        await _requeue(session, changes, task, "lease_lost", now, "lease expired")
    return len(tasks)


async def reset_orphaned_tasks(session: AsyncSession, changes: ChangeLog, now: float) -> int:
    """Recovery: re-queue leases held by workers that are gone or out of rotation, and expired ones."""
    alive = select(WorkerRow.id).where(WorkerRow.status.in_((W_IDLE, W_BUSY)))
    tasks = (
        await session.scalars(
            select(TaskRow)
            .where(TaskRow.status.in_(LEASED))
            .where((TaskRow.lease_worker.not_in(alive)) | lease_expired_by(TaskRow.lease_expires_at, now))
            .order_by(TaskRow.id)
        )
    ).all()
    for task in tasks:
        await _requeue(session, changes, task, "lease_lost", now, "orphaned by a crash")
    return len(tasks)


async def request_cancellation(session: AsyncSession) -> list[str]:
    """Shutdown past its drain deadline: flag every leased task; heartbeats carry the ids to workers."""
    tasks = (await session.scalars(select(TaskRow).where(TaskRow.status.in_(LEASED)))).all()
    for task in tasks:
        task.cancel_requested = True
    return [t.id for t in tasks]


async def count_leased(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(TaskRow).where(TaskRow.status.in_(LEASED))) or 0)


async def count_queued(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(TaskRow).where(TaskRow.status == QUEUED)) or 0)


async def active_workflows(session: AsyncSession) -> Sequence[WorkflowRow]:
    return (await session.scalars(select(WorkflowRow).where(WorkflowRow.status.in_(WF_ACTIVE)))).all()


async def list_tasks(
    session: AsyncSession, status: str | None, workflow_id: str | None, limit: int, offset: int
) -> Sequence[TaskRow]:
    query = select(TaskRow).order_by(TaskRow.enqueued_at, TaskRow.id).limit(limit).offset(offset)
    if status is not None:
        query = query.where(TaskRow.status == status)
    if workflow_id is not None:
        query = query.where(TaskRow.workflow_id == workflow_id)
    return (await session.scalars(query)).all()


async def workflow_tasks(session: AsyncSession, workflow_id: str) -> Sequence[TaskRow]:
    return (await session.scalars(select(TaskRow).where(TaskRow.workflow_id == workflow_id).order_by(TaskRow.id))).all()
