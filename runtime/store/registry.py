"""The worker registry (seed 4.2): registration, heartbeats, health, deregistration.

Every status change is a `worker_lifecycle` transition. ``polling`` is never stored: a poll
fires ``poll`` and then ``task_received`` or ``no_task_available`` inside one transaction.
A worker that leaves rotation (missed heartbeats, reported unhealthy, DELETE) hands its
leased tasks back to the queue through `runtime.store.queue.requeue_worker_tasks`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.errors import ConflictError
from runtime.protocol import HeartbeatRequest, RegisterRequest
from runtime.store.changes import ChangeLog, worker_component
from runtime.store.models import TaskRow, WorkerRow
from runtime.store.queue import LEASED, QUEUED, W_BUSY, W_IDLE, requeue_worker_tasks, unknown_worker
from spec.decisions.liveness import heard_too_long_ago
from spec.machine import StateRole
from spec.machines import WORKER_LIFECYCLE

WORKER = WORKER_LIFECYCLE.name
#: States in which a worker is in rotation and expected to heartbeat.
IN_ROTATION = tuple(
    s for s in WORKER_LIFECYCLE.state_names if "heartbeats_missed" in WORKER_LIFECYCLE.allowed_triggers(s)
)
UNHEALTHY = WORKER_LIFECYCLE.next_state("idle", "heartbeats_missed")
GONE = WORKER_LIFECYCLE.next_state("idle", "deregister")


async def get_worker(session: AsyncSession, worker_id: str) -> WorkerRow:
    row = await session.get(WorkerRow, worker_id)
    if row is None:
        raise unknown_worker(worker_id)
    return row


@dataclass(frozen=True)
class Registration:
    """Who registers, under which new token, and whether they may take over a live id."""

    request: RegisterRequest
    token_digest: str
    #: True for an admin or the id's own token: a live registration under that id may be replaced.
    may_replace: Callable[[str], bool]
    heartbeat_timeout_s: float


async def register_worker(session: AsyncSession, changes: ChangeLog, registration: Registration,
                          now: float) -> WorkerRow:
    """Register (or re-register after a restart) a worker with validated capabilities.

    An id that is live — registered, not deregistered, heard from within the heartbeat timeout —
    belongs to its token: anyone else registering it gets 409, so one worker credential cannot
    take over another worker's leases.
    """
    request = registration.request
    worker_id = request.worker_id or f"w-{uuid.uuid4().hex[:12]}"
    row = await session.get(WorkerRow, worker_id)
    incarnation = 1
    if row is not None:
        live = (WORKER_LIFECYCLE.state(row.status).role is not StateRole.TERMINAL
                and not heard_too_long_ago(row.last_heartbeat, now, registration.heartbeat_timeout_s))
        if live and row.token_digest is not None and not registration.may_replace(worker_id):
            raise ConflictError(
                f"worker id {worker_id!r} is registered and live under another token; choose another --worker-id, "
                "register with that worker's own workerToken, or deregister it with an admin token first",
                field="workerId")
        if WORKER_LIFECYCLE.state(row.status).role is not StateRole.TERMINAL:
            # Same id, new process: the previous incarnation is gone, and so are its leases.
            changes.advance(WORKER, worker_component(worker_id, row.incarnation), row.status, "deregister",
                            {"reason": "re-registered"})
            await requeue_worker_tasks(session, changes, worker_id, now, reason="worker re-registered")
        incarnation = row.incarnation + 1
    component = worker_component(worker_id, incarnation)
    state = changes.advance(WORKER, component, WORKER_LIFECYCLE.initial, "register")
    state = changes.advance(WORKER, component, state, "capabilities_accepted", {"capabilities": request.capabilities})
    if row is None:
        row = WorkerRow(id=worker_id, registered_at=now)
        session.add(row)
    row.status = state
    row.capabilities = list(request.capabilities)
    row.hostname = request.hostname
    row.max_concurrency = request.max_concurrency
    row.running = 0
    row.health = {}
    row.last_heartbeat = now
    row.registered_at = now
    row.incarnation = incarnation
    row.token_digest = registration.token_digest
    row.task_types = None if request.task_types is None else list(request.task_types)
    return row


@dataclass(frozen=True)
class TypeRouting:
    """Which task types the workers that lease (idle or busy) have handlers for (routing by task type).

    A worker that advertised no types is offered any type (`RegisterRequest.task_types`), so one
    such live worker makes every type routable.
    """

    any_type: bool
    handled: frozenset[str]

    def routable(self, task_type: str) -> bool:
        return self.any_type or task_type in self.handled

    def waiting_for(self, task_type: str) -> str | None:
        """Why a queued task of `task_type` is not leased, as the task listing says it; None if it can be."""
        return None if self.routable(task_type) else f"no live worker handles type {task_type!r}"


async def live_routing(session: AsyncSession) -> TypeRouting:
    """The task types the workers in rotation handle: one read of their ``task_types``."""
    rows = (await session.scalars(select(WorkerRow.task_types).where(WorkerRow.status.in_((W_IDLE, W_BUSY))))).all()
    handled: set[str] = set()
    for types in rows:
        if types is None:
            return TypeRouting(True, frozenset())
        handled.update(types)
    return TypeRouting(False, frozenset(handled))


async def unroutable_queued(session: AsyncSession, routing: TypeRouting) -> dict[str, int]:
    """Queued tasks by type, for the types no live worker handles (the unroutable-tasks gauge)."""
    if routing.any_type:
        return {}
    query = select(TaskRow.type, func.count()).where(TaskRow.status == QUEUED).group_by(TaskRow.type)
    if routing.handled:
        query = query.where(TaskRow.type.not_in(routing.handled))
    return {str(t): int(n) for t, n in (await session.execute(query)).all()}


@dataclass(frozen=True)
class HeartbeatOutcome:
    status: str
    cancel_task_ids: list[str]


async def record_heartbeat(
    session: AsyncSession, changes: ChangeLog, request: HeartbeatRequest, now: float, lease_ttl_s: float
) -> HeartbeatOutcome:
    """Refresh liveness and leases; apply the reported health (seed 4.2 "Worker Health Monitoring")."""
    row = await get_worker(session, request.worker_id)
    component = worker_component(row.id, row.incarnation)
    health = request.health.model_dump(by_alias=True)
    if row.status == UNHEALTHY and request.health.status == "healthy":
        row.status = changes.advance(WORKER, component, row.status, "health_restored")
    elif request.health.status == "unhealthy" and row.status in IN_ROTATION:
        row.status = changes.advance(WORKER, component, row.status, "reported_unhealthy", {"health": health})
        await requeue_worker_tasks(session, changes, row.id, now, reason="worker reported unhealthy")
    elif row.status == UNHEALTHY:
        pass  # still unhealthy: stays out of rotation, liveness noted below
    else:
        row.status = changes.advance(WORKER, component, row.status, "heartbeat")
    row.last_heartbeat = now
    row.health = health
    renewed = update(TaskRow).where(TaskRow.lease_worker == row.id, TaskRow.status.in_(LEASED))
    if request.held_task_ids is not None:
        renewed = renewed.where(TaskRow.id.in_(request.held_task_ids))  # the others run out (lease_lost)
    await session.execute(renewed.values(lease_expires_at=now + lease_ttl_s))
    cancel = (
        await session.scalars(
            select(TaskRow.id).where(
                TaskRow.lease_worker == row.id, TaskRow.status.in_(LEASED), TaskRow.cancel_requested.is_(True)
            )
        )
    ).all()
    return HeartbeatOutcome(row.status, list(cancel))


async def mark_silent_workers(session: AsyncSession, changes: ChangeLog, now: float, timeout_s: float) -> list[str]:
    """Workers silent for `timeout_s` leave rotation (``heartbeats_missed``); their tasks are re-queued."""
    silent = (
        await session.scalars(
            select(WorkerRow).where(WorkerRow.status.in_(IN_ROTATION),
                                    heard_too_long_ago(WorkerRow.last_heartbeat, now, timeout_s))
        )
    ).all()
    for row in silent:
        row.status = changes.advance(
            WORKER, worker_component(row.id, row.incarnation), row.status, "heartbeats_missed",
            {"silentFor": round(now - row.last_heartbeat, 3)},
        )
        await requeue_worker_tasks(session, changes, row.id, now, reason="heartbeats missed")
    return [r.id for r in silent]


async def deregister_worker(session: AsyncSession, changes: ChangeLog, worker_id: str, now: float) -> None:
    row = await get_worker(session, worker_id)
    row.status = changes.advance(WORKER, worker_component(row.id, row.incarnation), row.status, "deregister")
    await requeue_worker_tasks(session, changes, row.id, now, reason="worker deregistered")


async def worker_token_digests(session: AsyncSession,
                               worker_ids: Collection[str] | None = None) -> list[tuple[str, str]]:
    """``(worker_id, token_digest)`` of every worker not deregistered (or of those of `worker_ids`):
    the tokens that still work."""
    query = select(WorkerRow.id, WorkerRow.token_digest).where(WorkerRow.status != GONE,
                                                               WorkerRow.token_digest.is_not(None))
    if worker_ids is not None:
        query = query.where(WorkerRow.id.in_(list(worker_ids)))
    rows = await session.execute(query)
    return [(worker_id, digest) for worker_id, digest in rows.all() if digest is not None]


async def grant_heartbeat_grace(session: AsyncSession, now: float) -> None:
    """After a restart, give workers in rotation one heartbeat timeout to show they are alive.

    Called as the worker pool starts, right before its ``worker_pool_ready`` (one of
    ``spec.decisions.liveness.HEARTBEAT_GRACE``): where the simulator and the checker reset them too.
    """
    await session.execute(update(WorkerRow).where(WorkerRow.status.in_(IN_ROTATION)).values(last_heartbeat=now))


async def list_workers(session: AsyncSession, status: str | None = None) -> Sequence[WorkerRow]:
    query = select(WorkerRow).order_by(WorkerRow.registered_at)
    if status is not None:
        query = query.where(WorkerRow.status == status)
    return (await session.scalars(query)).all()


def assert_in_rotation(worker_id: str, status: str) -> None:
    if status == GONE:
        raise ConflictError(f"worker {worker_id!r} is deregistered; register again", field="workerId")
