"""``POST /api/v1/tasks/reports``: batched lease reports plus the next lease (issue 3 "Performance").

Batching saves round trips, not checks: each report fires the same `task_lifecycle`
transition as its single endpoint, is traced, and a refused one changes nothing.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runtime.orchestrator import Orchestrator
from spec.trace import read_trace
from tests.runtime.orchestrator.orch_helpers import assert_conforms, lease_body, poll, register, submit

pytestmark = pytest.mark.anyio


def _reports(tasks: list[dict[str, Any]], worker_id: str, kind: str, **extra: Any) -> list[dict[str, Any]]:
    return [{**lease_body(t, worker_id), "kind": kind, **extra} for t in tasks]


async def test_a_batch_starts_and_completes_tasks_then_leases_the_next(
    orch: Orchestrator, client: httpx.AsyncClient
) -> None:
    await register(client, "w1", ["python"], maxConcurrency=2)
    submitted = [await submit(client) for _ in range(4)]
    first = (await poll(client, "w1", max=2)).json()["tasks"]
    assert len(first) == 2

    started = await client.post("/api/v1/tasks/reports", json={"reports": _reports(first, "w1", "started")})
    assert started.status_code == 200, started.text
    assert [o["status"] for o in started.json()["outcomes"]] == ["running", "running"]
    assert started.json()["tasks"] == []

    body = {"reports": _reports(first, "w1", "completed", result={"ok": 1}), "workerId": "w1", "leaseMax": 2}
    done = (await client.post("/api/v1/tasks/reports", json=body)).json()
    assert [(o["code"], o["status"]) for o in done["outcomes"]] == [(200, "completed"), (200, "completed")]
    nxt = done["tasks"]
    assert len(nxt) == 2 and {t["taskId"] for t in nxt}.isdisjoint({t["taskId"] for t in first})
    assert all(t["savedState"] == {} for t in nxt)

    for workflow_id, task_id in submitted:
        if task_id in {t["taskId"] for t in first}:
            workflow = (await client.get(f"/api/v1/workflows/{workflow_id}")).json()
            assert workflow["status"] == "completed" and workflow["tasks"][0]["result"] == {"ok": 1}
    triggers = [(e.component, e.trigger) for e in read_trace(orch.settings.trace)]  # type: ignore[arg-type]
    for task in first:
        component = f"task:{task['taskId']}"
        assert [t for c, t in triggers if c == component] == ["assign", "start", "complete"]
    assert_conforms(orch.settings)


async def test_refused_reports_are_answered_one_by_one_and_change_nothing(
    orch: Orchestrator, client: httpx.AsyncClient
) -> None:
    await register(client, "w1", ["python"], maxConcurrency=2)
    for _ in range(2):
        await submit(client)
    a, b = (await poll(client, "w1", max=2)).json()["tasks"]
    stale = {**lease_body(a, "w1"), "fencingToken": a["fencingToken"] + 1, "kind": "started"}
    reports = [stale, *_reports([b], "w1", "completed"), *_reports([b], "w1", "started"),
               {**lease_body(b, "w1"), "taskId": "t-missing", "kind": "started"}]
    answer = (await client.post("/api/v1/tasks/reports", json={"reports": reports})).json()
    codes = [(o["code"], (o["error"] or {}).get("field")) for o in answer["outcomes"]]
    assert codes == [(409, "fencingToken"), (409, "status"), (200, None), (404, "taskId")]

    assert (await client.get(f"/api/v1/tasks/{a['taskId']}")).json()["status"] == "assigned"
    again = (await client.post("/api/v1/tasks/reports", json={"reports": _reports([b], "w1", "completed")})).json()
    assert again["outcomes"][0]["status"] == "completed"
    # A redelivery (its answer was lost) gets the first answer again; never a second completion.
    twice = (await client.post("/api/v1/tasks/reports", json={"reports": _reports([b], "w1", "completed")})).json()
    assert (twice["outcomes"][0]["code"], twice["outcomes"][0]["status"]) == (200, "completed")
    other = _reports([b], "w1", "completed", result={"different": True})
    changed = (await client.post("/api/v1/tasks/reports", json={"reports": other})).json()["outcomes"][0]
    assert (changed["code"], changed["error"]["field"]) == (409, "result")
    events = [e for e in read_trace(orch.settings.trace) if e.component == f"task:{b['taskId']}"]
    assert [e.trigger for e in events].count("complete") == 1
    assert_conforms(orch.settings)


async def test_a_failed_report_needs_an_error_and_leasing_needs_a_worker(client: httpx.AsyncClient) -> None:
    await register(client, "w1", ["python"])
    await submit(client)
    (task,) = (await poll(client, "w1")).json()["tasks"]
    missing = await client.post("/api/v1/tasks/reports", json={"reports": _reports([task], "w1", "failed")})
    assert missing.status_code == 422 and missing.json()["error"]["field"].startswith("reports.0")
    no_worker = await client.post("/api/v1/tasks/reports", json={"reports": [], "leaseMax": 1})
    assert no_worker.status_code == 422 and no_worker.json()["error"]["field"] == "workerId"
    failed = await client.post("/api/v1/tasks/reports", json={
        "reports": _reports([task], "w1", "failed", error={"code": "TASK_ERROR", "message": "boom"})})
    assert failed.json()["outcomes"][0]["status"] == "failed"
