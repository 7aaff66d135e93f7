"""Writes serialised across orchestrator replicas on one PostgreSQL database (issue 16).

The store's transactions read rows and write them back (a report batch, a sweep, a lease
hand-out) on the assumption that no other write runs in between: on SQLite ``BEGIN IMMEDIATE``
makes that true across processes, and within one process `Database.write`'s lock does. Replicas
are separate processes, so each PostgreSQL write transaction first takes `WRITE_LOCK`, a
transaction-level advisory lock released at commit or rollback: a report on one replica and a
lease expiry on another can no longer both change one task. A lock held by a write on another
replica is waited for at most the connection's ``lock_timeout`` (``DatabasePolicy.lock_wait_s``),
then the write answers 503 ``locked``, as a SQLite write lock held by another process does.

What replicas add is therefore capacity for everything around a write (HTTP, JSON, WebSocket
fan-out, long polls), not concurrent writes; docs/postgresql.md says so.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

WRITE_LOCK = 0x6F726377  # "orcw"; advisory lock keys are scoped to the database

_TAKE = text("SELECT pg_advisory_xact_lock(:key)")


async def take_cluster_write_lock(session: AsyncSession | AsyncConnection) -> None:
    """Wait (up to ``lock_timeout``) until no other replica's write transaction runs; held until commit.

    Replicas starting together take it around the migrations too, so one migrates and the others find
    the schema at head."""
    await session.execute(_TAKE, {"key": WRITE_LOCK})
