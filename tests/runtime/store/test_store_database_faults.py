"""Database faults at the store (issue 14): a lock held elsewhere, stale sidecar modes, errors that are not faults;
on PostgreSQL too (issue 16): a lock another session holds, a connection the server dropped."""

from __future__ import annotations

import asyncio
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from runtime.errors import DatabaseUnavailableError, StoreError
from runtime.store.database import Database
from runtime.store.runs import begin_run
from runtime.store.sqlite_files import repair_sidecar_modes, sidecars
from spec.policies import DatabasePolicy
from tests.postgres_server import PASSWORD, PostgresServer
from tests.store_backends import StoreBackend

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
    store_backend: StoreBackend,
) -> None:
    db = Database.at(store_backend.fresh())
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


async def test_a_lock_held_by_another_postgresql_session_fails_the_write_within_lock_wait(
    postgres_server: PostgresServer,
) -> None:
    """``lock_timeout`` = ``lock_wait_s``: a write behind another session's lock answers 503, then recovers."""
    name = postgres_server.create_database()
    db = Database.at(postgres_server.location(name), QUICK_LOCK)
    await db.open()
    holder = subprocess.Popen(  # holds the table lock until its stdin closes
        [str(postgres_server.bin_dir / "psql"), "-X", "-q", "-h", "127.0.0.1", "-p", str(postgres_server.port),
         "-U", "orch", "-d", name, "-t", "-A", "-v", "ON_ERROR_STOP=1"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={"PGPASSWORD": PASSWORD})
    try:
        assert holder.stdin is not None and holder.stdout is not None
        holder.stdin.write("BEGIN; LOCK TABLE orchestrator_runs IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DatabaseUnavailableError) as refused:
            async with db.write() as session:
                await begin_run(session, 1.0)
        assert refused.value.fault == "locked" and refused.value.status_code == 503
        assert not db.health.writable and db.faulted.is_set()
        holder.stdin.close()
        holder.wait(timeout=30)
        async with db.write() as session:
            await begin_run(session, 2.0)
        assert db.health.writable
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=30)
        await db.close()
        postgres_server.drop_databases([name])


async def test_a_connection_the_postgresql_server_dropped_is_a_fault_and_the_pool_reconnects(
    postgres_server: PostgresServer,
) -> None:
    name = postgres_server.create_database()
    db = Database.at(postgres_server.location(name))
    await db.open()
    try:
        async with db.write() as session:
            await begin_run(session, 1.0)
        postgres_server.sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
        with pytest.raises(DatabaseUnavailableError) as refused:
            async with db.write() as session:
                await begin_run(session, 2.0)
        assert refused.value.fault == "connection_lost" and PASSWORD not in refused.value.reason
        async with db.write() as session:  # reset_pool dropped the dead connections: a fresh one works
            await begin_run(session, 3.0)
        assert db.health.writable
    finally:
        await db.close()
        postgres_server.drop_databases([name])
