"""Database faults at the store (issue 14): a lock held elsewhere, stale sidecar modes, errors that are not faults."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from runtime.errors import DatabaseUnavailableError, StoreError
from runtime.store.database import Database
from runtime.store.runs import begin_run
from runtime.store.sqlite_files import repair_sidecar_modes, sidecars
from spec.policies import DatabasePolicy

pytestmark = pytest.mark.anyio

QUICK_LOCK = DatabasePolicy(lock_wait_s=0.3)


async def test_a_lock_held_by_another_connection_fails_the_write_without_blocking_the_loop(tmp_path: Path) -> None:
    db = Database.for_path(tmp_path / "o.db", QUICK_LOCK)
    await db.open()
    other = sqlite3.connect(tmp_path / "o.db", isolation_level=None)
    ticks = 0
    stop = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(DatabaseUnavailableError) as refused:
            async with db.write() as session:
                await begin_run(session, 1.0)
        assert refused.value.fault == "locked" and refused.value.status_code == 503
        assert "write lock" in refused.value.reason and refused.value.retry_after_s >= 1
        assert ticks >= 3, "the event loop ran other tasks while the write waited for the lock"
        assert not db.health.writable and db.faulted.is_set()
        async with db.read() as session:  # readers are not blocked by a writer in WAL mode
            assert (await session.execute(text("SELECT count(*) FROM orchestrator_runs"))).scalar_one() == 0
        other.execute("ROLLBACK")
        async with db.write() as session:
            await begin_run(session, 2.0)
        assert db.health.writable
    finally:
        stop.set()
        await ticker
        other.close()
        await db.close()


async def test_an_error_that_is_not_a_fault_is_raised_unchanged_and_keeps_the_database_writable(
    tmp_path: Path,
) -> None:
    db = Database.for_path(tmp_path / "o.db")
    await db.open()
    try:
        async with db.write() as session:
            await session.execute(text("INSERT INTO orchestrator_runs (id, started_at) VALUES (7, 1.0)"))
        with pytest.raises(IntegrityError):
            async with db.write() as session:
                await session.execute(text("INSERT INTO orchestrator_runs (id, started_at) VALUES (7, 2.0)"))
        assert db.health.writable and not db.faulted.is_set()
    finally:
        await db.close()


async def test_read_only_sidecars_left_by_an_earlier_start_are_repaired_at_open(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    db = Database.for_path(path)
    await db.open()
    await db.close()
    path.chmod(0o640)
    for sidecar in sidecars(path):
        sidecar.touch()
        sidecar.chmod(0o444)
    db = Database.for_path(path)
    await db.open()
    try:
        async with db.write() as session:
            await begin_run(session, 1.0)
    finally:
        await db.close()
    assert all(stat.S_IMODE(s.stat().st_mode) == 0o640 for s in sidecars(path) if s.exists())
    assert repair_sidecar_modes(path) == []


def test_a_read_only_database_file_is_refused_with_the_command_that_fixes_it(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    path.touch()
    path.chmod(0o444)
    with pytest.raises(StoreError, match=rf"read-only \(mode 0444\); run: chmod u\+w {path}"):
        repair_sidecar_modes(path)
