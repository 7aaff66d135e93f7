"""Migrations at open, schema validation, WAL mode, crash detection (issue 3 §4, seed 4.1/4.4), on SQLite and
PostgreSQL (issue 16): the same migrations, and clear errors for a server that cannot be used."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from runtime.errors import DatabaseUnavailableError, SchemaError, StoreError
from runtime.store.database import Database
from runtime.store.locations import PostgresLocation
from runtime.store.models import Base
from runtime.store.runs import begin_run, end_run
from spec.policies import DatabasePolicy
from tests.postgres_server import PASSWORD, USER, PostgresServer
from tests.store_backends import StoreBackend

pytestmark = pytest.mark.anyio


async def test_open_migrates_a_new_file_and_uses_wal(tmp_path: Path) -> None:
    db = Database.for_path(tmp_path / "o.db")
    await db.open()
    try:
        async with db.read() as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            version = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        assert version == "0004_task_dependencies"
        assert await db.check_integrity() == "ok"
    finally:
        await db.close()
    with sqlite3.connect(tmp_path / "o.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


async def test_reopening_is_idempotent_and_keeps_data(store_backend: StoreBackend) -> None:
    db = Database.at(store_backend.fresh())
    await db.open()
    async with db.write() as session:
        run_id, crashed = await begin_run(session, 1.0)
    assert not crashed
    await db.close()
    await db.open()
    async with db.write() as session:
        _, crashed = await begin_run(session, 2.0)
    await db.close()
    assert crashed, "a run without stopped_at marks the previous process as crashed"
    del run_id


async def test_a_clean_stop_is_not_a_crash(store_backend: StoreBackend) -> None:
    db = Database.at(store_backend.fresh())
    await db.open()
    async with db.write() as session:
        run_id, _ = await begin_run(session, 1.0)
    async with db.write() as session:
        await end_run(session, run_id, 2.0)
    async with db.write() as session:
        _, crashed = await begin_run(session, 3.0)
    await db.close()
    assert not crashed


async def test_schema_validation_names_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    db = Database.for_path(path)
    await db.open()
    await db.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE events")
    with pytest.raises(SchemaError, match="table 'events' is missing"):
        await Database.for_path(path).open()


async def test_unusable_paths_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        await Database.for_path(tmp_path).open()
    with pytest.raises(StoreError, match="does not exist"):
        await Database.for_path(tmp_path / "missing" / "o.db").open()


async def test_a_failed_transaction_leaves_nothing_behind(store_backend: StoreBackend) -> None:
    db = Database.at(store_backend.fresh())
    await db.open()
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            await begin_run(session, 1.0)
            raise RuntimeError("boom")
    async with db.read() as session:
        count = (await session.execute(text("SELECT count(*) FROM orchestrator_runs"))).scalar_one()
    await db.close()
    assert count == 0


async def test_wal_checkpoints_run_in_the_background_not_in_commits(tmp_path: Path) -> None:
    """Commits never checkpoint (that stalled the event loop); the checkpointer keeps the log short.

    Every commit appends at least one page to the log, and without checkpoints the log only grows:
    ten bursts of 50 commits would leave it over 2 MB. Checkpointed between bursts, SQLite starts
    the log over, so it never holds much more than one burst.
    """
    import anyio

    from runtime.store.checkpoints import CHECKPOINT_INTERVAL_S

    db = Database.for_path(tmp_path / "o.db")
    await db.open()
    bursts, commits = 10, 50
    try:
        async with db.read() as session:
            assert (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar_one() == 0
            page = (await session.execute(text("PRAGMA page_size"))).scalar_one()
        for burst in range(bursts):
            for i in range(commits):
                async with db.write() as session:
                    await begin_run(session, float(burst * commits + i))
            await anyio.sleep(2 * CHECKPOINT_INTERVAL_S)
        log_bytes = (tmp_path / "o.db-wal").stat().st_size
        assert log_bytes < bursts * commits * page / 3, f"the log grew to {log_bytes} bytes: no checkpoints ran"
    finally:
        await db.close()
    wal = tmp_path / "o.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed, truncated (or removed on close)


# -- PostgreSQL (issue 16) -------------------------------------------------------------------

async def test_open_migrates_a_new_postgresql_database(postgres_server: PostgresServer) -> None:
    name = postgres_server.create_database(migrated=False)
    db = Database.at(postgres_server.location(name))
    await db.open()
    try:
        async with db.read() as session:
            version = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
            tables = set((await session.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))).scalars())
        assert version == "0004_task_dependencies"
        assert {t.name for t in Base.metadata.sorted_tables} <= tables
        assert await db.check_integrity() == "ok"
    finally:
        await db.close()
        postgres_server.drop_databases([name])


async def test_postgresql_schema_validation_names_what_is_missing(postgres_server: PostgresServer) -> None:
    name = postgres_server.create_database()
    try:
        postgres_server.sql("DROP TABLE events", database=name)
        with pytest.raises(SchemaError, match="table 'events' is missing") as refused:
            await Database.at(postgres_server.location(name)).open()
        assert PASSWORD not in str(refused.value) and "***" in str(refused.value)
    finally:
        postgres_server.drop_databases([name])


def _url(server: PostgresServer, **changes: object) -> PostgresLocation:
    return PostgresLocation(server.location("postgres").url.set(**changes))  # type: ignore[arg-type]


async def test_a_refused_connection_names_the_setting_and_the_reason_and_not_the_password(
    postgres_server: PostgresServer,
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreError) as refused:
        await Database.at(_url(postgres_server, port=port)).open()
    message = str(refused.value)
    assert "the db setting: --db, ORCH_DB" in message and f"127.0.0.1:{port}" in message
    assert PASSWORD not in message and "***" in message


async def test_a_server_that_never_answers_fails_within_the_connect_timeout(postgres_server: PostgresServer) -> None:
    policy = DatabasePolicy(connect_timeout_s=0.5)
    with socket.socket() as silent:  # accepts connections (backlog) but never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"did not answer within 0\.5 s \(policies\.database\.connect_timeout_s"):
            await Database.at(_url(postgres_server, port=silent.getsockname()[1]), policy).open()
        assert time.monotonic() - started < 10 * policy.connect_timeout_s


async def test_a_wrong_password_or_database_is_named_without_the_password(postgres_server: PostgresServer) -> None:
    with pytest.raises(StoreError, match="password authentication failed") as refused:
        await Database.at(_url(postgres_server, password="not-the-password")).open()
    assert "not-the-password" not in str(refused.value)
    with pytest.raises(StoreError, match='database "no_such_db" does not exist'):
        await Database.at(_url(postgres_server, database="no_such_db")).open()


async def test_the_password_comes_from_pgpassword_or_a_password_file(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = postgres_server.create_database()
    bare = postgres_server.url(name, password=False)
    try:
        monkeypatch.setenv("PGPASSWORD", PASSWORD)
        db = Database.at(PostgresLocation.parse(bare))
        await db.open()
        await db.ping()
        await db.close()
        monkeypatch.delenv("PGPASSWORD")
        passfile = tmp_path / "pgpass"
        passfile.write_text(f"127.0.0.1:{postgres_server.port}:*:{USER}:{PASSWORD}\n", encoding="utf-8")
        passfile.chmod(0o600)
        db = Database.at(PostgresLocation.parse(f"{bare}?passfile={passfile}"))
        await db.open()
        await db.ping()
        await db.close()
    finally:
        postgres_server.drop_databases([name])


async def test_replicas_on_one_postgresql_database_open_together_and_their_writes_do_not_interleave(
    postgres_server: PostgresServer,
) -> None:
    """Two replicas (two `Database` objects, as two processes have) migrate an empty database together, and
    a write on one waits for a write on the other: the cluster write lock (`runtime.store.cluster_writes`)."""
    name = postgres_server.create_database(migrated=False)
    first, second = Database.at(postgres_server.location(name)), Database.at(postgres_server.location(name))
    await asyncio.gather(first.open(), second.open())
    try:
        order: list[str] = []
        inside = asyncio.Event()

        async def long_write() -> None:
            async with first.write() as session:
                await session.execute(text("SELECT 1"))
                inside.set()
                order.append("first in")
                await asyncio.sleep(0.3)
                order.append("first out")

        async def short_write() -> None:
            await inside.wait()
            async with second.write() as session:
                await session.execute(text("SELECT 1"))
                order.append("second in")

        await asyncio.gather(long_write(), short_write())
        assert order == ["first in", "first out", "second in"]
    finally:
        await first.close()
        await second.close()
        postgres_server.drop_databases([name])


async def test_a_write_lock_held_by_another_replica_past_the_lock_wait_answers_503_locked(
    postgres_server: PostgresServer,
) -> None:
    name = postgres_server.create_database()
    policy = DatabasePolicy(lock_wait_s=0.2)
    location = postgres_server.location(name)
    first, second = Database.at(location, policy), Database.at(location, policy)
    await first.open()
    await second.open()
    try:
        async with first.write() as session:
            await session.execute(text("SELECT 1"))
            with pytest.raises(DatabaseUnavailableError) as refused:
                async with second.write() as other:
                    await other.execute(text("SELECT 1"))
        assert refused.value.fault == "locked"
        async with second.write() as other:  # released with the first write's commit
            await other.execute(text("SELECT 1"))
    finally:
        await first.close()
        await second.close()
        postgres_server.drop_databases([name])


async def test_a_second_orchestrator_on_the_same_sqlite_file_is_refused_and_may_start_later(tmp_path: Path) -> None:
    """Replicas need PostgreSQL: the second is told so; other SQLite connections are not affected."""
    path = tmp_path / "o.db"
    first, second = Database.for_path(path), Database.for_path(path)
    await first.open()
    try:
        with pytest.raises(StoreError, match="in use by another orchestrator.*need PostgreSQL"):
            await second.open()
        with sqlite3.connect(path) as shell:  # a backup or a shell reads the file as before
            assert shell.execute("SELECT count(*) FROM orchestrator_runs").fetchone() is not None
    finally:
        await first.close()
    await second.open()
    await second.close()
