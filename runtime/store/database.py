"""Connection pool, migrations and schema validation (seed 4.1 ``createConnectionPool``,
``runMigrations``, ``validateSchema``).

SQLite calls run inline on the event loop's thread (`InlineSqliteConnection`), not through
aiosqlite's worker thread: a transaction makes dozens of driver calls, and each hop to that
thread and back cost a loop wake-up (≈0.1–0.3 ms on a loaded machine), which was most of the
orchestrator's time per task (issue 3 "Performance"). A local SQLite statement takes
microseconds; the price is that a slow statement or a WAL checkpoint briefly stalls the loop.

Dialect concerns stay here: SQLite gets WAL mode, ``synchronous=NORMAL`` (a commit survives a
process kill; WAL makes it cheap) and a busy timeout; every caller uses plain SQLAlchemy Core/ORM
expressions, so pointing ``url`` at PostgreSQL (asyncpg) needs no caller change. Writes are
serialised by an in-process lock because one orchestrator process owns the database; with
PostgreSQL the leasing query's ``FOR UPDATE SKIP LOCKED`` takes over that role.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from alembic import command
from alembic.config import Config
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from runtime.errors import SchemaError, StoreError
from runtime.store.checkpoints import WalCheckpointer
from runtime.store.models import Base

MIGRATIONS = Path(__file__).parent / "migrations"


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


class _InlineCalls:
    """Stands in for aiosqlite's queue to its worker thread: runs each call at once, on the caller's thread."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the awaiting caller, as aiosqlite's thread would
            if future is not None and not future.done():
                future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineSqliteConnection(aiosqlite.Connection):
    """An aiosqlite connection without its thread: awaiting a call returns its already-set result."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _InlineCalls()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, aiosqlite.Connection]:
        return self._connect().__await__()  # no thread to start

    @property
    def sqlite(self) -> sqlite3.Connection:
        """The sqlite3 connection itself: calls on it run on this thread, as every call here does."""
        return self._conn


async def inline_sqlite(session: AsyncSession) -> sqlite3.Connection | None:
    """The sqlite3 connection under `session`'s transaction, or None on any other database.

    Statements run on it belong to the session's transaction (same connection; SQLAlchemy
    commits or rolls it back). `runtime.store.reports` uses it for its batched statements.
    """
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    return driver.sqlite if isinstance(driver, InlineSqliteConnection) else None


def _inline_creator(path: str) -> Callable[[], Any]:
    async def connect() -> aiosqlite.Connection:
        return await InlineSqliteConnection(lambda: sqlite3.connect(path))

    return connect


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # wal_autocheckpoint=0: `runtime.store.checkpoints` checkpoints off the event loop instead.
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=10000",
                   "wal_autocheckpoint=0"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _upgrade(connection: Connection) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, "head")


def _schema_problems(connection: Connection) -> list[str]:
    inspector = inspect(connection)
    present = set(inspector.get_table_names())
    problems: list[str] = []
    for table in Base.metadata.sorted_tables:
        if table.name not in present:
            problems.append(f"table {table.name!r} is missing")
            continue
        columns = {c["name"] for c in inspector.get_columns(table.name)}
        problems.extend(f"column {table.name}.{c.name} is missing" for c in table.columns if c.name not in columns)
    return problems


class Database:
    """One engine, its session factory and the write lock."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._write_lock = asyncio.Lock()
        self._checkpointer: WalCheckpointer | None = None

    @classmethod
    def for_path(cls, path: Path) -> Database:
        return cls(sqlite_url(path))

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")

    async def open(self) -> None:
        """Create the pool, run migrations and validate the schema; raise on any failure."""
        self._check_sqlite_path()
        engine = (create_async_engine(self.url, async_creator=_inline_creator(self._sqlite_path()))
                  if self.is_sqlite else create_async_engine(self.url))
        if self.is_sqlite:
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade)
            async with engine.connect() as conn:
                problems = await conn.run_sync(_schema_problems)
            if problems:
                raise SchemaError(f"database {self.url}: schema invalid after migrations: {'; '.join(problems)}")
        except BaseException:
            await engine.dispose()
            raise
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        if self.is_sqlite:
            self._checkpointer = WalCheckpointer(self._sqlite_path())
            self._checkpointer.start()

    def _check_sqlite_path(self) -> None:
        """Refuse an unusable SQLite path with a clear message before the driver fails obscurely."""
        if not self.is_sqlite:
            return
        path = Path(self._sqlite_path())
        if path.is_dir():
            raise StoreError(f"database path {path} is a directory; pass a file path inside it")
        if not path.parent.is_dir():
            raise StoreError(f"database directory {path.parent} does not exist")

    def _sqlite_path(self) -> str:
        return self.url.split(":///", 1)[1]

    async def check_integrity(self) -> str:
        """After a crash: confirm the database rolled back what the crash left open."""
        async with self.read() as session:
            if self.is_sqlite:
                return str((await session.execute(text("PRAGMA quick_check"))).scalar_one())
            await session.execute(text("SELECT 1"))
            return "ok"

    async def ping(self) -> None:
        async with self.read() as session:
            await session.execute(text("SELECT 1"))

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A serialised transaction, committed on normal exit and rolled back on an exception."""
        async with self._write_lock, self._factory()() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._factory()() as session:
            yield session

    def _factory(self) -> async_sessionmaker[AsyncSession]:
        if self._sessions is None:
            raise RuntimeError("database is not open")
        return self._sessions

    async def close(self) -> None:
        if self._checkpointer is not None:
            await self._checkpointer.stop()
            self._checkpointer = None
        if self.engine is not None:
            await self.engine.dispose()
            self.engine = None
            self._sessions = None
