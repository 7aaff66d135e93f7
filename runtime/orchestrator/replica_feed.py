"""Replicas tell each other what they committed (`runtime.store.change_feed`): workers and WebSocket
clients of every replica see the whole database's work.

Each write transaction that queued tasks or appended events sends a notice at its commit. A notice
from another replica wakes this replica's long-polling workers (`LeaseDispatcher.notify`) and has
the announced events read from the event log and published to this replica's WebSocket
subscribers, in commit order, by one publisher task (the subscribers skip ids they have already
sent, so a resume and a notice for the same event deliver it once). On SQLite there is one
orchestrator and nothing to tell.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.store.change_feed import ChangeListener, ChangeNotice, events_between, send_notice
from runtime.store.changes import ChangeLog
from runtime.store.locations import PostgresLocation

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator


class ReplicaFeed:
    """Sends this replica's notices and acts on the others'."""

    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch
        location = orch.settings.db
        self.listener = (ChangeListener(location, orch.policies.database, on_notice=self._received,
                                        on_connected=orch.dispatcher.notify,
                                        retry_s=orch.policies.leadership.acquire_interval_s)
                         if isinstance(location, PostgresLocation) else None)
        self._ranges: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.listener is not None:
            self._task = self.orch.supervisor.start("change-feed", self._run)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        """Stop listening and publishing (before the database closes)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def announce(self, session: AsyncSession, changes: ChangeLog) -> None:
        """In the transaction, before its commit: the notice the other replicas get if it commits."""
        if self.listener is None or not (changes.tasks_queued or changes.event_rows or changes.inserted_events):
            return
        if any(row.id is None for row in changes.event_rows):
            await session.flush()
        ids = [row.id for row in changes.event_rows] + [event.id for event in changes.inserted_events]
        events = (min(ids), max(ids)) if ids else None
        await send_notice(session, ChangeNotice(self.orch.instance, changes.tasks_queued > 0, events))

    def _received(self, notice: ChangeNotice) -> None:
        if notice.replica == self.orch.instance:
            return  # published by `Orchestrator.announce` already
        if notice.tasks_queued:
            self.orch.dispatcher.notify()
        if notice.events is not None and self.orch.hub.clients:
            self._ranges.put_nowait(notice.events)

    async def _run(self) -> None:
        assert self.listener is not None
        await asyncio.gather(self.listener.run(), self._publish())

    async def _publish(self) -> None:
        while True:
            first, last = await self._ranges.get()
            async with self.orch.db.read() as session:
                events = await events_between(session, first, last)
            for event in events:
                self.orch.hub.publish(event)
