"""What one replica's transactions tell the others through PostgreSQL ``LISTEN``/``NOTIFY`` (issue 16).

A transaction that queued tasks, appended events or (re-/de-)registered workers sends one
`ChangeNotice` on `CHANNEL` with ``pg_notify``; the server delivers it when (and only if) the
transaction commits, in commit order. Every replica listens on a connection of its own
(`ChangeListener`): a notice from another replica wakes its long-polling workers, tells it which
event ids to read from the event log for its WebSocket subscribers, and which workers' tokens to
read again (a worker's own token is issued by the replica it registered with; without the notice the
others would refuse it after a failover, and keep honouring a token a re-registration replaced).
Because the replicas' writes are serialised (`runtime.store.cluster_writes`), the events of one
transaction have consecutive ids, so a notice carries the first and the last.

A notice is a hint, never the data: a listener that was disconnected misses notices, so on every
(re)connection it wakes its workers anyway and reads every worker's token again, and WebSocket
clients that missed events get them by resuming from their last event id, which reads the event
log on any replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.protocol import Event
from runtime.store.event_log import to_event
from runtime.store.locations import PostgresLocation
from runtime.store.models import EventRow
from spec.policies import DatabasePolicy

log = logging.getLogger("runtime.store.change_feed")

CHANNEL = "orchestrator_changes"
#: A notice names at most this many workers: PostgreSQL refuses a payload of 8000 bytes or more
#: (and with it the transaction), and a worker id is up to 128 characters.
MAX_NAMED_WORKERS = 32
_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


@dataclass(frozen=True)
class ChangeNotice:
    """One committed transaction, as the other replicas learn of it."""

    #: The replica that committed it (a replica ignores its own notices: it published them already).
    replica: str
    tasks_queued: bool
    #: The first and last event id the transaction appended, or None.
    events: tuple[int, int] | None
    #: Workers whose token the transaction issued or withdrew (registration, deregistration): ids
    #: only; None when they were too many to name (`MAX_NAMED_WORKERS`): read every worker's.
    workers: tuple[str, ...] | None = ()

    def to_payload(self) -> str:
        return json.dumps({"r": self.replica, "q": self.tasks_queued, "e": self.events, "w": self.workers},
                          separators=(",", ":"))

    @classmethod
    def from_payload(cls, payload: str) -> ChangeNotice:
        """Parse a notice; ValueError naming what is wrong (a notice from another program on the channel)."""
        try:
            raw = json.loads(payload)
            events = raw["e"]
            workers = raw.get("w", [])
            if workers is not None and (not isinstance(workers, list) or not all(isinstance(w, str) for w in workers)):
                raise TypeError("'w' is neither null nor a list of worker ids")
            return cls(str(raw["r"]), bool(raw["q"]), None if events is None else (int(events[0]), int(events[1])),
                       None if workers is None else tuple(workers))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
            raise ValueError(f"not a change notice on {CHANNEL!r}: {payload[:200]!r} ({exc})") from None


async def send_notice(session: AsyncSession, notice: ChangeNotice) -> None:
    """Queue `notice` in `session`'s transaction: delivered at its commit, dropped by a rollback."""
    await session.execute(_NOTIFY, {"channel": CHANNEL, "payload": notice.to_payload()})


async def events_between(session: AsyncSession, first: int, last: int) -> list[Event]:
    """The events with ids from `first` to `last`, in id order (the ones a notice announced)."""
    rows = (await session.scalars(select(EventRow).where(EventRow.id.between(first, last)).order_by(EventRow.id))).all()
    return [to_event(r) for r in rows]


class ChangeListener:
    """Listens on `CHANNEL` on a connection of its own and hands each notice to `on_notice`."""

    def __init__(self, location: PostgresLocation, policy: DatabasePolicy, *,
                 on_notice: Callable[[ChangeNotice], None], on_connected: Callable[[], None],
                 retry_s: float) -> None:
        self.location = location
        self.policy = policy
        self.on_notice = on_notice
        self.on_connected = on_connected
        self.retry_s = retry_s

    async def run(self) -> None:
        """Listen until cancelled; reconnect `retry_s` after the connection is lost or refused."""
        while True:
            try:
                await self._listen_once()
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("change feed: %s", self.location.redact(f"{type(exc).__name__}: {exc}"))
            await asyncio.sleep(self.retry_s)

    async def _listen_once(self) -> None:
        dsn = self.location.url.set(drivername="postgresql").render_as_string(hide_password=False)
        connection = await asyncpg.connect(dsn, timeout=self.policy.connect_timeout_s,
                                           server_settings={"application_name": "orchestrator-change-feed"})
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(CHANNEL, self._received)
            self.on_connected()  # notices sent while this replica was not listening are lost: wake anyway
            while not lost.is_set() and not connection.is_closed():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), self.retry_s)
                if not lost.is_set():
                    await connection.execute("SELECT 1", timeout=self.policy.connect_timeout_s)  # a dead socket shows
        finally:
            with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await connection.close(timeout=self.policy.connect_timeout_s)

    def _received(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            notice = ChangeNotice.from_payload(payload)
        except ValueError as exc:
            log.warning("change feed: %s", exc)
            return
        self.on_notice(notice)
