"""Connection pool, migrations and schema validation (seed 4.1 ``createConnectionPool``,
``runMigrations``, ``validateSchema``).

SQLite calls run inline on the event loop's thread (`InlineSqliteConnection`), not through
aiosqlite's worker thread: a transaction makes dozens of driver calls, and each hop to that
thread and back cost a loop wake-up (≈0.1–0.3 ms on a loaded machine), which was most of the
orchestrator's time per task (issue 3 "Performance"). A local SQLite statement takes
microseconds; the price is that a slow statement or a WAL checkpoint briefly stalls the loop.

A lock held by another process must not stall it for seconds (issue 14): a write takes the
write lock first with ``BEGIN IMMEDIATE`` and no busy wait, and while the lock is taken it
sleeps between attempts (`DatabasePolicy.lock_poll_s`) up to ``lock_wait_s``; other statements
wait at most ``statement_busy_ms``. A write that fails for a database fault
(`spec.database_faults`) becomes `DatabaseUnavailableError` (503 + Retry-After), marks
:attr:`Database.health` faulted, and the first write that commits again marks it writable and
truncates the WAL.

Dialect concerns stay here: SQLite gets WAL mode, ``synchronous=NORMAL`` (a commit survives a
process kill; WAL makes it cheap) and a busy timeout; every caller uses plain SQLAlchemy Core/ORM
expressions, so PostgreSQL (asyncpg, issue 16) needs no caller change. On PostgreSQL a connection
attempt is bounded by `DatabasePolicy.connect_timeout_s` and a row lock held by another session by
``lock_timeout`` = ``lock_wait_s`` (then 503, as on SQLite); the URL's password is masked in every
message (`runtime.store.locations`). Writes are serialised by an in-process lock, and on PostgreSQL
across orchestrator replicas sharing the database by a transaction-level advisory lock
(`runtime.store.cluster_writes`), as ``BEGIN IMMEDIATE`` serialises them on SQLite; a SQLite file has
one orchestrator (`runtime.store.sqlite_owner` refuses a second).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from alembic import command
from alembic.config import Config
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from runtime.errors import DatabaseUnavailableError, SchemaError, StoreError
from runtime.store.checkpoints import WalCheckpointer
from runtime.store.cluster_writes import take_cluster_write_lock
from runtime.store.locations import DatabaseLocation, PostgresLocation
from runtime.store.models import Base
from runtime.store.sqlite_files import repair_sidecar_modes
from runtime.store.sqlite_owner import release_sqlite_file, take_sqlite_file
from spec.database_faults import DatabaseFault, DatabaseHealth, classify_database_error, fault_kind
from spec.policies import DatabasePolicy

log = logging.getLogger("runtime.store")

MIGRATIONS = Path(__file__).parent / "migrations"
#: The setting an unusable database is configured by, named in errors.
SETTING = "db setting: --db, ORCH_DB or db in the config file"


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


def _sqlite_pragmas(busy_ms: int) -> Callable[[Any, Any], None]:
    def apply(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # wal_autocheckpoint=0: `runtime.store.checkpoints` checkpoints off the event loop instead.
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", f"busy_timeout={busy_ms}",
                       "wal_autocheckpoint=0"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    return apply


def database_fault(exc: BaseException) -> tuple[DatabaseFault, str] | None:
    """The `spec.database_faults` fault behind a driver exception, with the driver's words; None if none."""
    if isinstance(exc, (OSError, TimeoutError)):  # a server's socket (PostgreSQL): refused, reset, no answer
        return DatabaseFault.CONNECTION_LOST, f"{type(exc).__name__}: {exc}"
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    name = getattr(orig, "sqlite_errorname", None) or getattr(orig, "sqlstate", None)  # SQLite's, or PostgreSQL's
    detail = f"{name}: {orig}" if name else str(orig)
    fault = classify_database_error(name, str(orig))
    return None if fault is None else (fault, detail)


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

    def __init__(self, url: str | URL, policy: DatabasePolicy | None = None,
                 clock: Callable[[], float] = time.monotonic, location: PostgresLocation | None = None) -> None:
        self.url = make_url(url)
        #: A PostgreSQL database's location, whose password is masked in every message.
        self.location = location
        self.policy = policy or DatabasePolicy()
        self.clock = clock
        #: Writable or faulted, from the outcome of the last write (`spec.database_faults`).
        self.health = DatabaseHealth(self.policy)
        self.engine: AsyncEngine | None = None
        self._sessions: async_sessionmaker[AsyncSession] | None = None
        self._write_lock = asyncio.Lock()
        self._checkpointer: WalCheckpointer | None = None
        #: SQLite: the descriptor holding the file's owner ``flock`` while the database is open.
        self._owner_fd: int | None = None
        #: Set by a failed write; the orchestrator's recovery task waits on it.
        self.faulted = asyncio.Event()

    @classmethod
    def for_path(cls, path: Path, policy: DatabasePolicy | None = None,
                 clock: Callable[[], float] = time.monotonic) -> Database:
        return cls(sqlite_url(path), policy, clock)

    @classmethod
    def at(cls, location: DatabaseLocation, policy: DatabasePolicy | None = None,
           clock: Callable[[], float] = time.monotonic) -> Database:
        """The database the ``db`` setting names: a SQLite file or a PostgreSQL database."""
        if isinstance(location, PostgresLocation):
            return cls(location.url, policy, clock, location)
        return cls.for_path(location, policy, clock)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_backend_name() == "sqlite"

    @property
    def name(self) -> str:
        """The database as messages name it: the file, or the URL with its password masked."""
        return self._sqlite_path() if self.is_sqlite else str(self.location or self.url)

    def redact(self, text: str) -> str:
        """`text` with this database's password (if its URL has one) masked."""
        return self.location.redact(text) if self.location is not None else text

    def _engine(self) -> AsyncEngine:
        if self.is_sqlite:
            engine = create_async_engine(self.url, async_creator=_inline_creator(self._sqlite_path()))
            event.listen(engine.sync_engine, "connect", _sqlite_pragmas(self.policy.statement_busy_ms))
            return engine
        # asyncpg: ``timeout`` bounds each connection attempt; ``lock_timeout`` bounds a wait for a row
        # lock another session holds, as ``lock_wait_s`` bounds SQLite's write lock.
        options = {"lock_timeout": f"{round(self.policy.lock_wait_s * 1000)}ms", "application_name": "orchestrator"}
        return create_async_engine(self.url, connect_args={"timeout": self.policy.connect_timeout_s,
                                                           "server_settings": options})

    async def open(self) -> None:
        """Create the pool, run migrations and validate the schema; raise on any failure."""
        self._check_sqlite_path()
        if self.is_sqlite and self._owner_fd is None:
            self._owner_fd = take_sqlite_file(Path(self._sqlite_path()))
        engine = self._engine()
        try:
            async with engine.begin() as conn:
                if self.is_sqlite:  # before serving, migrations may wait for a lock like any write
                    await conn.exec_driver_sql(f"PRAGMA busy_timeout={round(self.policy.lock_wait_s * 1000)}")
                else:
                    await take_cluster_write_lock(conn)
                await conn.run_sync(_upgrade)
                if self.is_sqlite:
                    await conn.exec_driver_sql(f"PRAGMA busy_timeout={self.policy.statement_busy_ms}")
            async with engine.connect() as conn:
                problems = await conn.run_sync(_schema_problems)
            if problems:
                raise SchemaError(f"database {self.name}: schema invalid after migrations: {'; '.join(problems)}")
        except (OSError, TimeoutError, DBAPIError) as exc:
            await engine.dispose()
            self._release_owner()
            if self.is_sqlite:
                raise
            raise StoreError(f"cannot open the database {self.name} (the {SETTING}): "
                             f"{self.redact(self._unreachable_reason(exc))}") from None
        except BaseException:
            await engine.dispose()
            self._release_owner()
            raise
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        if self.is_sqlite:
            self._checkpointer = WalCheckpointer(self._sqlite_path())
            self._checkpointer.start()

    def _release_owner(self) -> None:
        fd, self._owner_fd = self._owner_fd, None
        release_sqlite_file(fd)

    def _unreachable_reason(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return (f"the server did not answer within {self.policy.connect_timeout_s:g} s "
                    "(policies.database.connect_timeout_s)")
        if isinstance(exc, DBAPIError):  # the server's own words: 'password authentication failed for user ...'
            return str(exc.orig).strip() or type(exc.orig).__name__
        return f"{type(exc).__name__}: {exc}"

    def _check_sqlite_path(self) -> None:
        """Refuse an unusable SQLite path with a clear message before the driver fails obscurely."""
        if not self.is_sqlite:
            return
        path = Path(self._sqlite_path())
        if path.is_dir():
            raise StoreError(f"database path {path} is a directory; pass a file path inside it")
        if not path.parent.is_dir():
            raise StoreError(f"database directory {path.parent} does not exist")
        repair_sidecar_modes(path)

    def _sqlite_path(self) -> str:
        return str(self.url.database)

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
        """A serialised transaction, committed on normal exit and rolled back on an exception.

        A database fault (disk full, read-only, locked, corrupt, connection lost) raises
        `DatabaseUnavailableError`; the first commit after one truncates the WAL.
        """
        # The lock wait counts from the request: writes queued behind one that waited do not wait again.
        deadline = self.clock() + self.policy.lock_wait_s
        async with self._write_lock:
            try:
                async with self._factory()() as session, session.begin():
                    await self._take_write_lock(session, deadline)
                    yield session
            except (DBAPIError, sqlite3.Error, OSError, TimeoutError) as exc:
                socket_error = isinstance(exc, (OSError, TimeoutError))
                found = None if socket_error and self.is_sqlite else database_fault(exc)
                if found is None:
                    raise
                raise await self._faulted(found[0], self.redact(found[1])) from exc
            recovered = self.health.record_success(self.clock())
        if recovered:
            log.warning("database %s is writable again", self.name)
            await self.truncate_wal()

    async def _take_write_lock(self, session: AsyncSession, deadline: float) -> None:
        """``BEGIN IMMEDIATE`` without a busy wait on the loop; sleep between attempts until `deadline`.

        On PostgreSQL the replicas' advisory write lock instead, bounded by ``lock_timeout``."""
        raw = await inline_sqlite(session)
        if raw is None:
            await take_cluster_write_lock(session)
            return
        attempt = 0
        raw.execute("PRAGMA busy_timeout=0")
        try:
            while True:
                try:
                    raw.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    found = database_fault(exc)
                    if found is None or found[0] is not DatabaseFault.LOCKED or self.clock() >= deadline:
                        raise
                await asyncio.sleep(self.policy.lock_poll_s(attempt))
                attempt += 1
        finally:
            with contextlib.suppress(sqlite3.Error):  # a broken connection raised already
                raw.execute(f"PRAGMA busy_timeout={self.policy.statement_busy_ms}")

    async def _faulted(self, fault: DatabaseFault, detail: str) -> DatabaseUnavailableError:
        report = self.health.record_failure(fault, detail, self.clock())
        self.faulted.set()
        log.error("database write failed: %s", report.reason)
        if fault_kind(fault).reconnect:
            await self.reset_pool()
        return DatabaseUnavailableError(report.reason, fault=fault.value, retry_after_s=report.retry_after_s)

    async def reset_pool(self) -> None:
        """Close every pooled connection: the next session opens a fresh one (``reconnect`` faults)."""
        if self.engine is not None:
            await self.engine.dispose()
        if self._checkpointer is not None:
            await asyncio.to_thread(self._checkpointer.reconnect)

    async def truncate_wal(self) -> None:
        """A TRUNCATE checkpoint off the loop: gives back the space a grown WAL holds (after a fault)."""
        if self._checkpointer is None:
            return
        wal = Path(self._sqlite_path() + "-wal")
        before = wal.stat().st_size if wal.exists() else 0
        await asyncio.to_thread(self._checkpointer.checkpoint, "TRUNCATE")
        after = wal.stat().st_size if wal.exists() else 0
        log.info("WAL of %s truncated after recovery: %d -> %d bytes", self.name, before, after)

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
        self._release_owner()
