"""The worker health monitor (seed 4.2 "Worker Health Monitoring", issue 3 §5).

Every ``HeartbeatPolicy.sweep_interval_s`` it marks workers silent for ``timeout_s``
unhealthy (``heartbeats_missed``), re-queues their tasks (``lease_lost``) and re-queues any
lease that expired without renewal. A silent worker is therefore detected between
``timeout_s`` and ``timeout_s + interval_s`` after its last heartbeat.

The loop runs on every replica (it is the ``workerPool`` health check), but only the replica that
leads (`runtime.orchestrator.leadership`) sweeps: one sweep at a time for the whole database.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.store.changes import ChangeLog
from runtime.store.queue import expire_stale_leases
from runtime.store.registry import mark_silent_workers

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator

log = logging.getLogger("runtime.orchestrator.monitor")


async def sweep_once(orch: Orchestrator) -> tuple[list[str], int]:
    """One sweep: (workers taken out of rotation, leases expired)."""
    heartbeat = orch.policies.heartbeat
    now = orch.now()

    async def _sweep(session: AsyncSession, changes: ChangeLog) -> tuple[list[str], int]:
        silent = await mark_silent_workers(session, changes, now, heartbeat.timeout_s)
        expired = await expire_stale_leases(session, changes, now)
        return silent, expired

    silent, expired = await orch.transact(_sweep)
    if silent or expired:
        log.warning("health monitor: workers out of rotation %s; expired leases re-queued: %d", silent, expired)
    return silent, expired


async def run_health_monitor(orch: Orchestrator) -> None:
    interval = orch.policies.heartbeat.sweep_interval_s
    while True:
        await orch.clock.sleep(interval)
        if not orch.leadership.leading:
            continue
        try:
            await sweep_once(orch)
        except asyncio.CancelledError:
            raise
        except Exception:  # the monitor must outlive one bad sweep (e.g. a locked database)
            log.exception("health monitor sweep failed; retrying next interval")
