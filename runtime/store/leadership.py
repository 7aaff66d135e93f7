"""The leader lock of orchestrator replicas on one PostgreSQL database (machine ``leader_election``).

Every replica serves requests; the cluster-wide sweeps run on the one whose session holds
`LEADER_LOCK`, a session-level advisory lock, on a connection of its own (not the pool's: a pooled
connection handed back with the lock would keep it for whoever borrows it next). When the
leader's process dies its socket closes and the server releases the lock at once; when its host
or network goes silent, the server's TCP keepalive (`LeadershipPolicy.server_keepalive`) and
``tcp_user_timeout`` end the session within ``lease_s``. Whether to try, renew or step down, and
when, is `spec.decisions.leadership.LeadershipCore`'s decision; this module only asks the server.

A SQLite file has one orchestrator: it needs no lock and takes none.
"""

from __future__ import annotations

import contextlib
import math

import asyncpg

from runtime.errors import StoreError
from runtime.store.locations import PostgresLocation
from spec.policies import DatabasePolicy, LeadershipPolicy

LEADER_LOCK = 0x6F72636C  # "orcl"; advisory lock keys are scoped to the database

#: The lock as pg_locks shows a one-key (bigint) advisory lock: high half, low half, objsubid 1.
_HELD = ("SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
         "AND granted AND classid = $1 AND objid = $2 AND objsubid = 1)")


class LeaderLockError(StoreError):
    """The server could not be asked about the leader lock (connection refused, lost, no answer)."""


class LeaderLock:
    """Takes, confirms and releases `LEADER_LOCK` on a dedicated connection."""

    def __init__(self, location: PostgresLocation, policy: LeadershipPolicy, database: DatabasePolicy) -> None:
        self.location = location
        self.policy = policy
        self.database = database
        self._connection: asyncpg.Connection | None = None

    def _server_settings(self) -> dict[str, str]:
        idle, interval, count = self.policy.server_keepalive()
        return {"application_name": "orchestrator-leader-election", "tcp_keepalives_idle": str(idle),
                "tcp_keepalives_interval": str(interval), "tcp_keepalives_count": str(count),
                "tcp_user_timeout": str(math.floor(self.policy.lease_s * 1000))}

    async def _connect(self, timeout_s: float) -> asyncpg.Connection:
        if self._connection is not None and not self._connection.is_closed():
            return self._connection
        dsn = self.location.url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            self._connection = await asyncpg.connect(
                dsn, timeout=min(timeout_s, self.database.connect_timeout_s),
                server_settings=self._server_settings())
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise LeaderLockError(self.location.redact(f"cannot reach {self.location} for the leader lock: "
                                                       f"{type(exc).__name__}: {exc}")) from None
        return self._connection

    async def try_take(self, timeout_s: float) -> bool:
        """Take the lock if no other session holds it; True when this one holds it now."""
        return await self._ask("SELECT pg_try_advisory_lock($1)", (LEADER_LOCK,), timeout_s)

    async def confirm(self, timeout_s: float) -> bool:
        """Whether this connection's session still holds the lock (False: it was released or never taken)."""
        return await self._ask(_HELD, (LEADER_LOCK >> 32, LEADER_LOCK & 0xFFFFFFFF), timeout_s)

    async def _ask(self, query: str, args: tuple[int, ...], timeout_s: float) -> bool:
        connection = await self._connect(timeout_s)
        try:
            return bool(await connection.fetchval(query, *args, timeout=timeout_s))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            await self.close()  # a connection in doubt may still hold the lock: end its session
            raise LeaderLockError(self.location.redact(f"leader lock on {self.location}: "
                                                       f"{type(exc).__name__}: {exc}")) from None

    async def close(self) -> None:
        """End the session, and with it the lock if it held it (a step-down, a stop or a lost connection)."""
        connection, self._connection = self._connection, None
        if connection is None or connection.is_closed():
            return
        with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await connection.execute("SELECT pg_advisory_unlock_all()", timeout=self.database.connect_timeout_s)
        with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            await connection.close(timeout=self.database.connect_timeout_s)
        if not connection.is_closed():
            connection.terminate()
