"""Drives `orchestrator_shutdown` (seed 4.4 "Orchestrator Graceful Shutdown", issue 3 §7).

Order: pause the queue (no more leases; long polls released) → drain HTTP (503 for new work,
lease reports still accepted) → refuse new WebSockets → settle workflows → wait for running
tasks up to ``ShutdownPolicy.drain_deadline_s`` → past it, request cancellation (heartbeat
answers carry ``cancelTaskIds``) and wait ``cancel_grace_s`` more, re-queueing whatever is
still leased → SHUTDOWN notice and close 1001 to WebSocket clients → close HTTP → stop the
queue's background loops → record a clean stop and close the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.resilience.clock import sleep_until
from runtime.store.changes import ChangeLog
from runtime.store.models import TaskRow
from runtime.store.queue import LEASED, active_workflows, count_leased, request_cancellation, requeue_worker_tasks
from runtime.store.runs import end_run
from spec.decisions.shutdown import ORCHESTRATOR_DRAIN, ShutdownDrain
from spec.machines import ORCHESTRATOR_SHUTDOWN
from spec.machines.shutdown import OrchestratorShutdownTrigger

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator

log = logging.getLogger("runtime.orchestrator.shutdown")


async def run_shutdown(orch: Orchestrator) -> None:
    machine = ORCHESTRATOR_SHUTDOWN.bind(listener=orch.trace.listener(orch.component("shutdown")))
    orch.shutdown = machine
    policy = orch.policies.shutdown

    machine.fire(OrchestratorShutdownTrigger.STOP)
    orch.shutting_down = True
    orch.dispatcher.pause()
    machine.fire(OrchestratorShutdownTrigger.QUEUE_PAUSED)

    orch.draining = True
    machine.fire(OrchestratorShutdownTrigger.HTTP_DRAINING)

    orch.hub.accepting = False
    machine.fire(OrchestratorShutdownTrigger.WEBSOCKETS_REFUSED)

    async with orch.db.read() as session:
        active = len(await active_workflows(session))
    log.info("shutdown: %d active workflow(s); their running tasks decide the wait", active)
    machine.fire(OrchestratorShutdownTrigger.WORKFLOWS_SETTLED)

    drain: ShutdownDrain | None = None
    while True:
        async with orch.db.read() as session:
            running = await count_leased(session)
        now = orch.monotonic()
        if drain is None:  # the wait begins at its first look
            drain = ShutdownDrain(ORCHESTRATOR_DRAIN, policy, began=now)
        decision = drain.observe(running, now)
        if decision.trigger is not None:
            machine.fire(decision.trigger)
        if decision.cancel:
            await _request_cancellation(orch)
        if decision.take_back:
            await _take_back(orch)
        if decision.wake_at is None:
            break
        await sleep_until(orch.clock, decision.wake_at)

    machine.fire(OrchestratorShutdownTrigger.NOTIFY_CLIENTS)
    closed = await orch.hub.close_all()
    log.info("shutdown: notified and closed %d WebSocket client(s)", closed)
    machine.fire(OrchestratorShutdownTrigger.WEBSOCKETS_CLOSED)

    if orch.server is not None and orch.server_task is not None:
        orch.server.should_exit = True
        with contextlib.suppress(Exception):
            await orch.server_task
    machine.fire(OrchestratorShutdownTrigger.HTTP_STOPPED)

    if orch.monitor_task is not None:
        orch.monitor_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await orch.monitor_task
    machine.fire(OrchestratorShutdownTrigger.QUEUE_STOPPED)

    if orch.run_id is not None:
        run_id = orch.run_id

        async def _end(session: AsyncSession, _changes: ChangeLog) -> None:
            await end_run(session, run_id, orch.now())

        await orch.transact(_end)
    await orch.leadership.resign()  # before the trace closes: another replica takes the sweeps over
    await orch.db.close()
    machine.fire(OrchestratorShutdownTrigger.DATABASE_CLOSED)
    orch.trace.close()


async def _request_cancellation(orch: Orchestrator) -> None:
    """The drain deadline passed: heartbeat answers now carry ``cancelTaskIds``."""

    async def _flag(session: AsyncSession, _changes: ChangeLog) -> list[str]:
        return await request_cancellation(session)

    flagged = await orch.transact(_flag)
    log.warning("shutdown: drain deadline passed; cancellation requested for %d task(s)", len(flagged))


async def _take_back(orch: Orchestrator) -> None:
    """The cancellation grace is over: re-queue whatever is still leased."""

    async def _requeue(session: AsyncSession, changes: ChangeLog) -> int:
        holders = set((await session.scalars(select(TaskRow.lease_worker).where(TaskRow.status.in_(LEASED)))).all())
        count = 0
        for worker_id in sorted(h for h in holders if h is not None):
            count += await requeue_worker_tasks(session, changes, worker_id, orch.now(),
                                                reason="not interrupted before the shutdown deadline")
        return count

    leftover = await orch.transact(_requeue)
    if leftover:
        log.warning("shutdown: %d task(s) re-queued after the cancellation grace period", leftover)
