"""The store's invariants (`runtime.store.consistency`, issue 14) read alike on SQLite and PostgreSQL (issue 16)."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from runtime.protocol import RegisterRequest, WorkflowRequest
from runtime.store.consistency import find_inconsistencies
from runtime.store.models import WorkerRow, WorkflowRow
from runtime.store.queue import lease_next_tasks, submit_workflow
from runtime.store.registry import register_worker
from spec.database_faults import Invariant
from spec.policies import DEFAULT_POLICIES
from tests.runtime.store.store_helpers import by_admin, transact
from tests.store_backends import StoreBackend

pytestmark = pytest.mark.anyio


async def test_each_broken_invariant_is_found_on_either_database(store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    try:
        async def setup(session, changes):  # type: ignore[no-untyped-def]
            request = RegisterRequest(worker_id="w", capabilities=["python"], max_concurrency=2)
            await register_worker(session, changes, by_admin(request), 0.0)
            workflow, (task,) = await submit_workflow(session, changes, WorkflowRequest(type="noop"), 0.0,
                                                      DEFAULT_POLICIES.lease.aging_interval_s)
            await lease_next_tasks(session, changes, "w", 1, 1.0, DEFAULT_POLICIES.lease.lease_ttl_s)
            return workflow.id, task.id

        (workflow_id, task_id), _ = await transact(db, setup)
        async with db.read() as session:
            assert await find_inconsistencies(session, sqlite=db.is_sqlite) == []

        async def corrupt(session, _changes):  # type: ignore[no-untyped-def]
            await session.execute(update(WorkerRow).where(WorkerRow.id == "w").values(running=3))
            await session.execute(update(WorkflowRow).where(WorkflowRow.id == workflow_id).values(status="completed"))

        await transact(db, corrupt)
        async with db.read() as session:
            found = {f.invariant: f.detail for f in await find_inconsistencies(session, sqlite=db.is_sqlite)}
    finally:
        await db.close()
    assert set(found) == {Invariant.RUNNING_COUNT, Invariant.SETTLED_WORKFLOW_WITH_OPEN_TASK}
    assert "w counts 3 running, holds 1 leases" in found[Invariant.RUNNING_COUNT]
    assert task_id in found[Invariant.SETTLED_WORKFLOW_WITH_OPEN_TASK]
