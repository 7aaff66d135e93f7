"""The event-log retention sweep (``RetentionPolicy``, issue 14): a supervised service of the leader.

Every ``RetentionPolicy.interval_s`` the replica that leads (`runtime.orchestrator.leadership`; on
SQLite, the only one) deletes the events of workflows that finished more than ``finished_events_s``
ago (`runtime.store.retention`), one write transaction per ``batch_size`` events so a backlog never
holds the write lock long. A database fault skips the sweep (the database recovery service handles
the fault); the next one catches up. A WebSocket subscription to such a workflow is told its events
are gone (`runtime.orchestrator.ws_api`), rather than left waiting for a replay that never comes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from runtime.errors import DatabaseUnavailableError
from runtime.store.retention import delete_expired_events

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator

log = logging.getLogger("runtime.orchestrator.retention")


async def sweep_expired_events(orch: Orchestrator) -> int:
    """One sweep: batches of deletes until a batch comes back short; how many events were deleted."""
    policy = orch.policies.retention
    cutoff = policy.cutoff(orch.now())
    deleted = 0
    while True:
        async with orch.db.write() as session:
            count = await delete_expired_events(session, cutoff, policy.batch_size)
        deleted += count
        if count < policy.batch_size:
            return deleted
        await asyncio.sleep(0)  # let requests in between two batches


async def run_event_retention(orch: Orchestrator) -> None:
    """Sweep every ``interval_s`` while this replica leads, until cancelled."""
    while True:
        await asyncio.sleep(orch.policies.retention.interval_s)
        if not orch.leadership.leading:
            continue
        try:
            deleted = await sweep_expired_events(orch)
        except DatabaseUnavailableError as exc:
            log.warning("event retention skipped: %s; the next sweep catches up", exc)
            continue
        if deleted:
            log.info("event retention: deleted %d event(s) of workflows finished more than %g s ago",
                     deleted, orch.policies.retention.finished_events_s)


__all__ = ["run_event_retention", "sweep_expired_events"]
