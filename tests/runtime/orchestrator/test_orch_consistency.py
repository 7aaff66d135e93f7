"""Periodic consistency validation (issue 14): a consistent store has no findings; each broken invariant is named."""

from __future__ import annotations

import sqlite3

import httpx
import pytest

from runtime.orchestrator import Orchestrator
from runtime.orchestrator.db_recovery import check_consistency
from spec.database_faults import Invariant
from tests.runtime.orchestrator.orch_helpers import poll, register, submit

pytestmark = pytest.mark.anyio


async def test_a_consistent_store_has_no_findings_and_each_broken_invariant_is_reported(
    orch: Orchestrator, client: httpx.AsyncClient,
) -> None:
    await register(client, "w-1", ["noop"])
    workflow_id, task_id = await submit(client, requiredCapabilities=["noop"])
    leased = await poll(client, "w-1")
    assert leased.status_code == 200, leased.text
    assert await check_consistency(orch) == []
    assert (await client.get("/health/ready")).json()["consistency"]["findings"] == []

    # What a bug (or a hand edit) would leave behind: counts and statuses that contradict the leases.
    with sqlite3.connect(orch.settings.db, timeout=30) as db:
        db.execute("UPDATE workers SET running = 3 WHERE id = 'w-1'")
        db.execute("UPDATE workflows SET status = 'completed' WHERE id = ?", (workflow_id,))
    found = {f.invariant: f.detail for f in await check_consistency(orch)}
    assert set(found) == {Invariant.RUNNING_COUNT, Invariant.SETTLED_WORKFLOW_WITH_OPEN_TASK}
    assert "w-1 counts 3 running, holds 1 leases" in found[Invariant.RUNNING_COUNT]
    assert task_id in found[Invariant.SETTLED_WORKFLOW_WITH_OPEN_TASK]

    with sqlite3.connect(orch.settings.db, timeout=30) as db:
        db.execute("UPDATE workers SET status = 'deregistered' WHERE id = 'w-1'")
    found = {f.invariant: f.detail for f in await check_consistency(orch)}
    assert found[Invariant.LEASE_WITHOUT_LIVE_WORKER] == f"task {task_id} leased to w-1"
    reported = (await client.get("/health/ready")).json()["consistency"]["findings"]
    assert {f["invariant"] for f in reported} == {"lease_without_live_worker", "settled_workflow_with_open_task"}
