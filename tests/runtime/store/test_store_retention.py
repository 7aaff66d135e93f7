"""Event-log retention (`runtime.store.retention`, RetentionPolicy) deletes alike on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.protocol import EventType, WorkflowRequest
from runtime.store.changes import ChangeLog
from runtime.store.database import Database
from runtime.store.event_log import append_event
from runtime.store.models import EventRow, WorkflowRow
from runtime.store.queue import submit_workflow
from runtime.store.retention import SETTLED, delete_expired_events, last_event_before
from spec.policies import DEFAULT_POLICIES
from tests.runtime.store.store_helpers import transact
from tests.store_backends import StoreBackend

pytestmark = pytest.mark.anyio


async def _workflow(db: Database, at: float) -> str:
    async def submit(session: AsyncSession, changes: ChangeLog) -> str:
        workflow, _ = await submit_workflow(session, changes, WorkflowRequest(type="noop"), at,
                                            DEFAULT_POLICIES.lease.aging_interval_s)
        return workflow.id

    workflow_id, _ = await transact(db, submit)
    return workflow_id


async def _events(db: Database, workflow_id: str, times: list[float]) -> None:
    async def add(session: AsyncSession, changes: ChangeLog) -> None:
        for at in times:
            await append_event(session, changes, EventType.TASK_PROGRESS, workflow_id, None, at)

    await transact(db, add)


async def _finish(db: Database, workflow_id: str, status: str, at: float) -> None:
    async def settle(session: AsyncSession, _changes: ChangeLog) -> None:
        await session.execute(update(WorkflowRow).where(WorkflowRow.id == workflow_id)
                              .values(status=status, updated_at=at))

    await transact(db, settle)


async def _counts(db: Database) -> dict[str, int]:
    async with db.read() as session:
        rows = await session.execute(select(EventRow.workflow_id, func.count()).group_by(EventRow.workflow_id))
        return {workflow_id: count for workflow_id, count in rows.all()}


async def test_only_events_of_workflows_settled_before_the_cutoff_go_in_batches(store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    try:
        old_done, old_failed, still_running, recently_done = [await _workflow(db, 0.0) for _ in range(4)]
        for workflow_id in (old_done, old_failed, still_running, recently_done):
            await _events(db, workflow_id, [1.0, 2.0, 3.0])
        await _finish(db, old_done, "completed", 10.0)
        await _finish(db, old_failed, "failed", 11.0)
        await _finish(db, recently_done, "completed", 150.0)
        before = await _counts(db)

        async def sweep(session: AsyncSession, _changes: ChangeLog) -> int:
            return await delete_expired_events(session, 100.0, 4)

        deleted = []
        while not deleted or deleted[-1] == 4:
            count, _ = await transact(db, sweep)
            deleted.append(count)
        after = await _counts(db)
    finally:
        await db.close()
    assert sum(deleted) == before[old_done] + before[old_failed] and max(deleted) <= 4
    assert old_done not in after and old_failed not in after
    assert after[still_running] == before[still_running] and after[recently_done] == before[recently_done]
    assert {"completed", "failed"} <= set(SETTLED) and "running" not in SETTLED


async def test_the_newest_event_before_the_cutoff_is_found_across_gaps_in_the_ids(
        store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    try:
        async with db.read() as session:
            assert await last_event_before(session, 1e12) is None  # no events at all
        workflow_id = await _workflow(db, 0.0)
        await _events(db, workflow_id, [float(t) for t in range(100, 140)])
        async with db.read() as session:
            ids_times = (await session.execute(select(EventRow.id, EventRow.time).order_by(EventRow.id))).all()

        async def punch_holes(session: AsyncSession, _changes: ChangeLog) -> None:
            await session.execute(delete(EventRow).where(EventRow.id.in_([i for i, _ in ids_times[5:30:2]])))

        await transact(db, punch_holes)
        async with db.read() as session:
            kept = (await session.execute(select(EventRow.id, EventRow.time).order_by(EventRow.id))).all()
            for cutoff in (-1.0, 0.5, 100.0, 100.5, 107.0, 113.0, 120.5, 139.0, 139.5, 1e12):
                expected = max((i for i, at in kept if at < cutoff), default=None)
                assert await last_event_before(session, cutoff) == expected, cutoff
    finally:
        await db.close()
