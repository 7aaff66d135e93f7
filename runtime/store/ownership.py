"""One orchestrator per PostgreSQL database (issue 16): an advisory lock held while the database is open.

Several orchestrator replicas on one database are not supported yet (docs/departures.md): the
report batches read and write rows under the in-process write lock, which does not reach
another process. So an orchestrator opening a PostgreSQL database takes `OWNER_LOCK`, a
session-level advisory lock, on a connection of its own and keeps it until it closes the
database; a second orchestrator is refused with an error saying so instead of corrupting the
queue. A process that dies loses its session and with it the lock, so a restart is not blocked.
If the server drops that connection while the orchestrator runs, the lock is gone until the
orchestrator restarts; this guards against a mistaken second start, it is not leader election.
A SQLite file is not guarded by this module.
"""

from __future__ import annotations

import contextlib

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from runtime.errors import StoreError

OWNER_LOCK = 0x6F726368  # "orch"


async def take_ownership(engine: AsyncEngine, name: str) -> AsyncConnection:
    """Hold `OWNER_LOCK` on a connection of its own, or raise `StoreError`: another orchestrator has `name`."""
    owner = await engine.connect()
    try:
        taken = (await owner.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": OWNER_LOCK})).scalar()
        await owner.commit()  # a session-level lock: held after the transaction, until released
    except BaseException:
        await owner.close()
        raise
    if not taken:
        await owner.close()
        raise StoreError(f"database {name} is in use by another orchestrator (it holds PostgreSQL advisory lock "
                         f"{OWNER_LOCK}); stop that one first: several orchestrators on one database are not "
                         "supported yet (docs/departures.md)")
    return owner


async def release_ownership(owner: AsyncConnection) -> None:
    """Release `OWNER_LOCK` and close its connection; a lost connection has released it already."""
    with contextlib.suppress(DBAPIError, OSError, TimeoutError):
        await owner.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": OWNER_LOCK})
        await owner.commit()
    with contextlib.suppress(DBAPIError, OSError, TimeoutError):
        await owner.close()
