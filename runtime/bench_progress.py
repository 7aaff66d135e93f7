"""How far a benchmark run is, read from the store itself rather than through the orchestrator.

`runtime.bench_workers` waits for its workers to be idle and for every task to complete. Asking
the orchestrator under test would add HTTP requests to the figure it measures, so these readers
query the store on a read-only connection of their own: the SQLite file (``mode=ro``), or the
PostgreSQL database on one asyncpg connection whose transactions are read-only
(``default_transaction_read_only``), kept open for the run so a poll costs one query.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Protocol

import asyncpg

from spec.machines.task_lifecycle import TaskState
from spec.machines.worker_lifecycle import WorkerState


class StoreProgress(Protocol):
    """What a benchmark reads while it runs; closed when the run ends."""

    def idle_workers(self) -> int: ...

    def completions(self) -> tuple[int, float | None]:
        """(tasks completed, the latest completed task's ``updated_at``: the store's own wall-clock stamp)."""
        ...

    def close(self) -> None: ...


class SqliteProgress:
    """Reads a SQLite store file read-only; one short connection per read (the file is local)."""

    def __init__(self, db: Path) -> None:
        self._uri = f"file:{db}?mode=ro"

    def _row(self, sql: str, *args: object) -> tuple[float | None, ...]:
        with sqlite3.connect(self._uri, uri=True, timeout=5) as conn:
            row: tuple[float | None, ...] = conn.execute(sql, args).fetchone()
        return row

    def idle_workers(self) -> int:
        return int(self._row("SELECT count(*) FROM workers WHERE status = ?", str(WorkerState.IDLE))[0] or 0)

    def completions(self) -> tuple[int, float | None]:
        count, last = self._row("SELECT count(*), max(updated_at) FROM tasks WHERE status = ?",
                                str(TaskState.COMPLETED))
        return int(count or 0), last

    def close(self) -> None:
        return None


class PostgresProgress:
    """Reads a PostgreSQL store on one read-only connection, driven by a private event loop.

    `dsn` may carry the password (it stays in this process); the benchmark's own loop is
    synchronous, so each read runs the connection's coroutine to completion on the runner.
    """

    def __init__(self, dsn: str) -> None:
        self._runner = asyncio.Runner()
        try:
            self._conn: asyncpg.Connection = self._runner.run(
                asyncpg.connect(dsn, server_settings={"default_transaction_read_only": "on"}))
        except BaseException:
            self._runner.close()
            raise

    def _row(self, sql: str, *args: object) -> asyncpg.Record:
        row: asyncpg.Record = self._runner.run(self._conn.fetchrow(sql, *args))
        return row

    def idle_workers(self) -> int:
        return int(self._row("SELECT count(*) FROM workers WHERE status = $1", str(WorkerState.IDLE))[0])

    def completions(self) -> tuple[int, float | None]:
        row = self._row("SELECT count(*), max(updated_at) FROM tasks WHERE status = $1", str(TaskState.COMPLETED))
        return int(row[0]), row[1]

    def close(self) -> None:
        try:
            self._runner.run(self._conn.close())
        finally:
            self._runner.close()
