"""Migrations at open, schema validation, WAL mode, crash detection (issue 3 §4, seed 4.1/4.4)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from runtime.errors import SchemaError, StoreError
from runtime.store.database import Database
from runtime.store.models import Base
from runtime.store.runs import begin_run, end_run

pytestmark = pytest.mark.anyio


async def test_open_migrates_a_new_file_and_uses_wal(tmp_path: Path) -> None:
    db = Database.for_path(tmp_path / "o.db")
    await db.open()
    try:
        async with db.read() as session:
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar_one() == "wal"
            version = (await session.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        assert version == "0001"
        assert await db.check_integrity() == "ok"
    finally:
        await db.close()
    with sqlite3.connect(tmp_path / "o.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


async def test_reopening_is_idempotent_and_keeps_data(tmp_path: Path) -> None:
    db = Database.for_path(tmp_path / "o.db")
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


async def test_a_clean_stop_is_not_a_crash(tmp_path: Path) -> None:
    db = Database.for_path(tmp_path / "o.db")
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


async def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    db = Database.for_path(tmp_path / "o.db")
    await db.open()
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            await begin_run(session, 1.0)
            raise RuntimeError("boom")
    async with db.read() as session:
        count = (await session.execute(text("SELECT count(*) FROM orchestrator_runs"))).scalar_one()
    await db.close()
    assert count == 0
