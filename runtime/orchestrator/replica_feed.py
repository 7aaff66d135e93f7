"""Replicas tell each other what they committed (`runtime.store.change_feed`): workers and WebSocket
clients of every replica see the whole database's work.

Each write transaction that queued tasks, appended events or registered or deregistered workers
sends a notice at its commit. A notice from another replica wakes this replica's long-polling
workers (`LeaseDispatcher.notify`) and has the announced events read from the event log and
published to this replica's WebSocket subscribers, in commit order, by one publisher task (the
subscribers skip ids they have already sent, so a resume and a notice for the same event deliver
it once).

A registration's worker token is granted by the replica that issued it; the others read the
tokens of the workers a notice names from the database, in the same task, so a worker that
fails over to another replica keeps its credential and a token replaced by a re-registration
stops working everywhere. Own notices count too: reads happen in commit order, so the last one
leaves the database's latest tokens. A (re)connected listener missed notices, so it reads every
worker's token again. On SQLite there is one orchestrator and nothing to tell.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from runtime.store.change_feed import MAX_NAMED_WORKERS, ChangeListener, ChangeNotice, events_between, send_notice
from runtime.store.changes import ChangeLog
from runtime.store.locations import PostgresLocation
from runtime.store.registry import worker_token_digests
from spec.machines.worker_lifecycle import WORKER_LIFECYCLE, WorkerTrigger

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator

#: The worker_lifecycle triggers whose transaction issues or withdraws a worker's token.
_TOKEN_TRIGGERS = frozenset({WorkerTrigger.REGISTER, WorkerTrigger.DEREGISTER})


@dataclass(frozen=True)
class _Publish:
    first: int
    last: int


@dataclass(frozen=True)
class _ReadTokens:
    #: None: every worker's.
    workers: tuple[str, ...] | None


def _worker_id(component: str) -> str:
    """``worker:<id>`` or ``worker:<id>~<incarnation>`` (`runtime.store.changes.worker_component`)."""
    return component.removeprefix("worker:").split("~", 1)[0]


def registrations(changes: ChangeLog) -> tuple[str, ...]:
    """The workers whose token `changes` issued or withdrew, each once, in order."""
    ids = (_worker_id(c.component) for c in changes.transitions
           if c.record.machine == WORKER_LIFECYCLE.name and c.record.trigger in _TOKEN_TRIGGERS)
    return tuple(dict.fromkeys(ids))


class ReplicaFeed:
    """Sends this replica's notices and acts on the others'."""

    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch
        location = orch.settings.db
        self.listener = (ChangeListener(location, orch.policies.database, on_notice=self._received,
                                        on_connected=self._connected,
                                        retry_s=orch.policies.leadership.acquire_interval_s)
                         if isinstance(location, PostgresLocation) else None)
        self._jobs: asyncio.Queue[_Publish | _ReadTokens] = asyncio.Queue()
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
        if self.listener is None:
            return
        workers = registrations(changes)
        if not (changes.tasks_queued or changes.event_rows or changes.inserted_events or workers):
            return
        if any(row.id is None for row in changes.event_rows):
            await session.flush()
        ids = [row.id for row in changes.event_rows] + [event.id for event in changes.inserted_events]
        events = (min(ids), max(ids)) if ids else None
        named = workers if len(workers) <= MAX_NAMED_WORKERS else None
        await send_notice(session, ChangeNotice(self.orch.instance, changes.tasks_queued > 0, events, named))

    def _connected(self) -> None:
        self.orch.dispatcher.notify()
        self._jobs.put_nowait(_ReadTokens(None))

    def _received(self, notice: ChangeNotice) -> None:
        if notice.workers != ():
            self._jobs.put_nowait(_ReadTokens(notice.workers))
        if notice.replica == self.orch.instance:
            return  # published by `Orchestrator.announce` already
        if notice.tasks_queued:
            self.orch.dispatcher.notify()
        if notice.events is not None and self.orch.hub.clients:
            self._jobs.put_nowait(_Publish(*notice.events))

    async def _run(self) -> None:
        assert self.listener is not None
        await asyncio.gather(self.listener.run(), self._work())

    async def _work(self) -> None:
        while True:
            job = await self._jobs.get()
            if isinstance(job, _Publish):
                async with self.orch.db.read() as session:
                    events = await events_between(session, job.first, job.last)
                for event in events:
                    self.orch.hub.publish(event)
            else:
                await self._read_tokens(job.workers)

    async def _read_tokens(self, workers: tuple[str, ...] | None) -> None:
        async with self.orch.db.read() as session:
            tokens = await worker_token_digests(session, workers)
        credentials = self.orch.credentials
        if workers is None:
            credentials.load_workers(tokens)
            return
        for worker_id in workers:
            credentials.revoke(worker_id)
        for worker_id, digest in tokens:
            credentials.grant(worker_id, digest)
