"""Drives `orchestrator_recovery` after a crash (seed 4.4 "Recovery After Unexpected Shutdown").

Runs inside the startup's task-queue phase when the previous run never recorded a clean stop:

* ``restoring_database``: SQLite already rolled back what the crash left open when the file was
  opened (WAL frames without a commit are ignored); ``PRAGMA quick_check`` confirms it.
* ``recovering_queue``: leases held by workers that are gone or out of rotation, and expired
  leases, go back to the queue with a new fencing token.
* ``restoring_workflows``: workflows that are still pending or running keep their tasks in the
  queue or under live leases, so they continue where they were.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.errors import StartupFailedError
from runtime.store.changes import ChangeLog
from runtime.store.queue import active_workflows, reset_orphaned_tasks
from spec.machines import ORCHESTRATOR_RECOVERY
from spec.machines.recovery import OrchestratorRecoveryTrigger

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator

log = logging.getLogger("runtime.orchestrator.recovery")


async def run_recovery(orch: Orchestrator) -> None:
    machine = ORCHESTRATOR_RECOVERY.bind(listener=orch.trace.listener(orch.component("recovery")))
    machine.fire(OrchestratorRecoveryTrigger.RESTART)
    verdict = await orch.db.check_integrity()
    if verdict != "ok":
        machine.fire(OrchestratorRecoveryTrigger.RECOVERY_ERROR)
        raise StartupFailedError(f"database {orch.settings.db} failed its integrity check after a crash: {verdict}")
    machine.fire(OrchestratorRecoveryTrigger.DATABASE_RESTORED)

    now = orch.now()

    async def _reset(session: AsyncSession, changes: ChangeLog) -> int:
        return await reset_orphaned_tasks(session, changes, now)

    orphans = await orch.transact(_reset)
    machine.fire(OrchestratorRecoveryTrigger.QUEUE_RECOVERED)

    async with orch.db.read() as session:
        workflows = len(await active_workflows(session))
    machine.fire(OrchestratorRecoveryTrigger.WORKFLOWS_RESUMED)
    log.warning("recovered from an unclean stop: %d orphaned task(s) re-queued, %d workflow(s) resumed",
                orphans, workflows)
