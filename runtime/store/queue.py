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

from sqlalchemy import and_, exists, func, select
from sqlalchemy import inspect as inspect_mapper
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.errors import ConflictError, NotFoundError
from runtime.protocol import EventType, LeaseReport, TaskError, WorkflowRequest
from runtime.store.changes import ChangeLog, task_component, worker_component, workflow_component
from runtime.store.event_log import append_event
from runtime.store.models import TaskRequirementRow, TaskRow, WorkerRow, WorkflowRow
from spec.machines import TASK_LIFECYCLE, WORKER_LIFECYCLE, WORKFLOW_LIFECYCLE
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


def sort_key(enqueued_at: float, priority: int, aging_interval_s: float) -> float:
    """Virtual enqueue time: each priority level counts as `aging_interval_s` seconds of waiting."""
    return enqueued_at - priority * aging_interval_s


async def submit_workflow(
    session: AsyncSession, changes: ChangeLog, request: WorkflowRequest, now: float, aging_interval_s: float
) -> tuple[WorkflowRow, list[TaskRow]]:
    """Store a workflow and enqueue its task (seed 4.3 ``createWorkflow``/``enqueue``)."""
    workflow_id = f"wf-{uuid.uuid4().hex}"
    status = changes.advance(WORKFLOW, workflow_component(workflow_id), WORKFLOW_LIFECYCLE.initial, "submit",
                             {"type": request.type})
    workflow = WorkflowRow(id=workflow_id, type=request.type, status=status, priority=request.priority,
                           payload=request.payload, created_at=now, updated_at=now)
    task = TaskRow(
        id=f"t-{uuid.uuid4().hex}", workflow_id=workflow_id, type=request.type, payload=request.payload,
        status=QUEUED, priority=request.priority, enqueued_at=now,
        sort_key=sort_key(now, request.priority, aging_interval_s),
        required_capabilities=list(request.required_capabilities), fencing_token=0, attempt=0, progress=0.0,
        progress_step="", cancel_requested=False, updated_at=now,
    )
    session.add(workflow)
    await session.flush()
    session.add(task)
    await session.flush()
    session.add_all(TaskRequirementRow(task_id=task.id, capability=c) for c in request.required_capabilities)
    changes.tasks_queued += 1
    return workflow, [task]


async def lease_next_tasks(
    session: AsyncSession, changes: ChangeLog, worker: WorkerRow, max_tasks: int, now: float, lease_ttl_s: float
) -> list[TaskRow]:
    """Lease up to `max_tasks` (bounded by the worker's free slots) of the best matching tasks."""
    free = worker.max_concurrency - worker.running
    wanted = min(max_tasks, free)
    if worker.status not in (W_IDLE, W_BUSY) or wanted <= 0:
        return []
    component = worker_component(worker.id, worker.incarnation)
    was_idle = worker.status == W_IDLE
    if was_idle:
        changes.advance(WORKER, component, worker.status, "poll")
    lacking = exists().where(
        and_(TaskRequirementRow.task_id == TaskRow.id, TaskRequirementRow.capability.not_in(worker.capabilities))
    )
    query = (
        select(TaskRow)
        .where(TaskRow.status == QUEUED, ~lacking)
        .order_by(TaskRow.sort_key, TaskRow.id)
        .limit(wanted)
        .with_for_update(skip_locked=True)
    )
    tasks = list((await session.scalars(query)).all())
    for task in tasks:
        task.fencing_token += 1
        task.attempt += 1
        task.status = changes.advance(TASK, task_component(task.id), task.status, "assign",
                                      {"workerId": worker.id, "fencingToken": task.fencing_token})
        task.lease_worker = worker.id
        task.lease_expires_at = now + lease_ttl_s
        task.cancel_requested = False
        task.updated_at = now
    worker.running += len(tasks)
    if was_idle:
        worker.status = changes.advance(WORKER, component, W_POLLING, "task_received" if tasks else "no_task_available")
    return tasks


async def get_task(session: AsyncSession, task_id: str) -> TaskRow:
    task = await session.get(TaskRow, task_id)
    if task is None:
        raise NotFoundError(f"unknown task {task_id!r}", field="taskId")
    return task


async def get_workflow(session: AsyncSession, workflow_id: str) -> WorkflowRow:
    workflow = await session.get(WorkflowRow, workflow_id)
    if workflow is None:
        raise NotFoundError(f"unknown workflow {workflow_id!r}", field="workflowId")
    return workflow


async def _leased_task(session: AsyncSession, report: LeaseReport) -> TaskRow:
    """The task a report is about, provided the reporter still holds its lease."""
    task = await get_task(session, report.task_id)
    if await session.get(WorkerRow, report.worker_id) is None:
        raise NotFoundError(f"unknown worker {report.worker_id!r}; register it first", field="workerId")
    if task.lease_worker != report.worker_id or task.fencing_token != report.fencing_token:
        raise ConflictError(
            f"stale lease: task {task.id} is now under fencing token {task.fencing_token} "
            f"(leased to {task.lease_worker or 'nobody'}); this report carries {report.fencing_token} "
            f"from {report.worker_id}",
            field="fencingToken",
        )
    return task


def failure_trigger(status: str, code: str) -> str:
    """The task trigger a failure report fires: before start, during the run, or at the time limit."""
    if status == ASSIGNED:
        return "allocation_failed"
    return "time_out" if code == FailureCode.TIMEOUT.value else "fail"


async def check_report(session: AsyncSession, report: LeaseReport, trigger: str | None) -> TaskRow:
    """Refuse a report exactly as applying it would, but before anything changes.

    Batched reports share one transaction: checking first means a refused report leaves no
    partial change behind. `trigger` None means "the failure trigger for the stored state".
    """
    task = await _leased_task(session, report)
    if trigger == "start" and task.status == RUNNING:
        return task  # a redelivered start from the lease holder: acknowledged again (see start_task)
    code = getattr(getattr(report, "error", None), "code", "")
    TASK_LIFECYCLE.transition_for(task.status, trigger or failure_trigger(task.status, code))
    return task


#: ``session.info`` key: workflow id → all its tasks, loaded by `preload_reports` in this transaction.
_WORKFLOW_TASKS = "runtime.workflow_tasks"


async def preload_reports(session: AsyncSession, reports: Sequence[LeaseReport]) -> list[object]:
    """Load every row a batch of reports touches in three queries instead of several per report.

    The session's identity map holds rows weakly: keep the returned list alive while the
    reports are applied so that each later ``session.get`` is answered from memory.
    """
    if not reports:
        return []
    reported = select(TaskRow.workflow_id).where(TaskRow.id.in_({r.task_id for r in reports}))
    tasks = (await session.scalars(select(TaskRow).where(TaskRow.workflow_id.in_(reported)))).all()
    siblings: dict[str, list[TaskRow]] = {}
    for task in tasks:
        siblings.setdefault(task.workflow_id, []).append(task)
    # Every task of these workflows is now in the session: completion checks need no query.
    session.info[_WORKFLOW_TASKS] = siblings
    worker_ids = {r.worker_id for r in reports} | {t.lease_worker for t in tasks if t.lease_worker}
    workers = (await session.scalars(select(WorkerRow).where(WorkerRow.id.in_(worker_ids)))).all()
    workflows = (await session.scalars(select(WorkflowRow).where(WorkflowRow.id.in_(siblings)))).all()
    return [*tasks, *workers, *workflows]


async def start_task(session: AsyncSession, changes: ChangeLog, report: LeaseReport, now: float, ttl: float) -> TaskRow:
    """Fire ``start``; a repeated report from the same lease holder and token is acknowledged again.

    A worker whose answer was lost (timeout after the commit) sends the same report again. The
    fencing token proves it is the same lease, so this is a redelivery of a message, not a second
    transition: the lease is renewed, nothing is traced twice and the worker is told "started".
    """
    task = await _leased_task(session, report)
    if task.status == RUNNING:
        task.lease_expires_at = now + ttl
        task.updated_at = now
        return task
    task.status = changes.advance(TASK, task_component(task.id), task.status, "start", {"workerId": report.worker_id})
    task.lease_expires_at = now + ttl
    task.updated_at = now
    workflow = await get_workflow(session, task.workflow_id)
    if workflow.status == WF_PENDING:
        workflow.status = changes.advance(WORKFLOW, workflow_component(workflow.id), workflow.status, "task_started")
        workflow.updated_at = now
    await append_event(session, changes, EventType.TASK_STARTED, task.workflow_id, task.id, now,
                       {"workerId": report.worker_id, "attempt": task.attempt})
    return task


async def record_progress(
    session: AsyncSession, changes: ChangeLog, report: LeaseReport, percentage: float, step: str,
    details: dict[str, object], now: float, ttl: float,
) -> TaskRow:
    task = await _leased_task(session, report)
    task.status = changes.advance(TASK, task_component(task.id), task.status, "progress",
                                  {"percentage": percentage, "step": step})
    task.progress = percentage
    task.progress_step = step
    task.lease_expires_at = now + ttl
    task.updated_at = now
    await append_event(session, changes, EventType.TASK_PROGRESS, task.workflow_id, task.id, now,
                       {"percentage": percentage, "step": step, "details": details})
    return task


async def complete_task(
    session: AsyncSession, changes: ChangeLog, report: LeaseReport, result: dict[str, object], now: float
) -> TaskRow:
    task = await _leased_task(session, report)
    task.status = changes.advance(TASK, task_component(task.id), task.status, "complete")
    task.result = dict(result)
    task.progress = 100.0
    await _release_lease(session, changes, task, now)
    await append_event(session, changes, EventType.TASK_COMPLETED, task.workflow_id, task.id, now, {"result": result})
    workflow = await get_workflow(session, task.workflow_id)
    if workflow.status == WF_RUNNING and not await _has_unfinished_tasks(session, workflow.id):
        workflow.status = changes.advance(WORKFLOW, workflow_component(workflow.id), workflow.status, "complete")
        workflow.updated_at = now
        await append_event(session, changes, EventType.WORKFLOW_COMPLETED, workflow.id, None, now)
    return task


async def _has_unfinished_tasks(session: AsyncSession, workflow_id: str) -> bool:
    """Whether any task of the workflow is not completed, counting this transaction's unflushed changes.

    Reads without autoflush (a flush per completed task was the largest cost of a batch of
    reports) and lets a task loaded in this session speak for itself.
    """
    preloaded: dict[str, list[TaskRow]] = session.info.get(_WORKFLOW_TASKS, {})
    if workflow_id in preloaded:
        return any(t.status != COMPLETED for t in preloaded[workflow_id])
    with session.no_autoflush:
        stored = (await session.execute(
            select(TaskRow.id).where(TaskRow.workflow_id == workflow_id, TaskRow.status != COMPLETED)
        )).scalars().all()
    for task_id in stored:
        loaded = session.identity_map.get(inspect_mapper(TaskRow).identity_key_from_primary_key((task_id,)))
        if not isinstance(loaded, TaskRow) or loaded.status != COMPLETED:
            return True
    return False


async def fail_task(
    session: AsyncSession, changes: ChangeLog, report: LeaseReport, error: TaskError, now: float
) -> TaskRow:
    task = await _leased_task(session, report)
    trigger = failure_trigger(task.status, error.code)
    task.status = changes.advance(TASK, task_component(task.id), task.status, trigger, {"code": error.code})
    task.error = error.model_dump(by_alias=True)
    await _release_lease(session, changes, task, now)
    await append_event(session, changes, EventType.TASK_FAILED, task.workflow_id, task.id, now,
                       {"error": task.error})
    workflow = await get_workflow(session, task.workflow_id)
    if workflow.status in WF_ACTIVE:
        workflow.status = changes.advance(WORKFLOW, workflow_component(workflow.id), workflow.status, "fail",
                                          {"taskId": task.id, "code": error.code})
        workflow.updated_at = now
        await append_event(session, changes, EventType.WORKFLOW_FAILED, workflow.id, task.id, now,
                           {"error": task.error})
    return task


async def interrupt_task(
    session: AsyncSession, changes: ChangeLog, report: LeaseReport, state: dict[str, object], now: float
) -> TaskRow:
    """A stopping worker hands its task back with its saved state (seed 4.4 ``reportTaskInterrupted``)."""
    task = await _leased_task(session, report)
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
    task.status = changes.advance(TASK, task_component(task.id), task.status, trigger, {"reason": reason})
    await _release_lease(session, changes, task, now)
    task.fencing_token += 1  # fences the old holder's reports
    task.lease_worker = None
    changes.tasks_queued += 1
    await append_event(session, changes, EventType.TASK_REQUEUED, task.workflow_id, task.id, now, {"reason": reason})


async def _release_lease(session: AsyncSession, changes: ChangeLog, task: TaskRow, now: float) -> None:
    """Free the worker's slot; a busy worker with no task left becomes idle (``task_finished``)."""
    task.lease_expires_at = None
    task.cancel_requested = False
    task.updated_at = now
    if task.lease_worker is None:
        return
    worker = await session.get(WorkerRow, task.lease_worker)
    if worker is None:
        return
    worker.running = max(0, worker.running - 1)
    if worker.running == 0 and worker.status == W_BUSY:
        worker.status = changes.advance(WORKER, worker_component(worker.id, worker.incarnation), worker.status,
                                        "task_finished")


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
            select(TaskRow).where(TaskRow.status.in_(LEASED), TaskRow.lease_expires_at < now).order_by(TaskRow.id)
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
            .where((TaskRow.lease_worker.not_in(alive)) | (TaskRow.lease_expires_at < now))
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
