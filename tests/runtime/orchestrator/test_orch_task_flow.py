"""register → poll → started → progress → completed, seen by a real WebSocket client (issue 3 Tests)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
import websockets

from runtime.orchestrator import Orchestrator
from spec.trace import read_trace
from tests.runtime.orchestrator.orch_helpers import (
    AUTH,
    TOKEN,
    lease_body,
    make_settings,
    poll,
    register,
    submit,
    until,
)

pytestmark = pytest.mark.anyio


def ws_url(orch: Orchestrator) -> str:
    return orch.url.replace("http://", "ws://") + f"/ws?token={TOKEN}"


async def next_event(ws: websockets.ClientConnection) -> dict[str, object]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 30))
        if message.get("type") not in ("subscribed",):
            return dict(message)


async def test_full_task_flow_is_streamed_over_websocket(orch: Orchestrator, client: httpx.AsyncClient) -> None:
    await register(client, "w1", ["python"])
    workflow_id, task_id = await submit(client, requiredCapabilities=["python"], payload={"n": 1})
    async with websockets.connect(ws_url(orch)) as ws:
        await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 30)) == {"type": "subscribed", "workflowId": workflow_id}

        response = await poll(client, "w1")
        assert response.status_code == 200
        task = response.json()["tasks"][0]
        assert task["taskId"] == task_id and task["payload"] == {"n": 1} and task["attempt"] == 1

        assert (await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))).status_code == 200
        progress = lease_body(task, "w1", percentage=40, step="build", details={"k": "v"})
        assert (await client.post("/api/v1/tasks/progress", json=progress)).status_code == 200
        done = await client.post("/api/v1/tasks/completed", json=lease_body(task, "w1", result={"ok": True}))
        assert done.status_code == 200 and done.json()["status"] == "completed"

        events = [await next_event(ws) for _ in range(4)]
    assert [e["type"] for e in events] == ["TASK_STARTED", "TASK_PROGRESS", "TASK_COMPLETED", "WORKFLOW_COMPLETED"]
    assert events[1]["payload"] == {"percentage": 40.0, "step": "build", "details": {"k": "v"}}
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 4

    workflow = (await client.get(f"/api/v1/workflows/{workflow_id}")).json()
    assert workflow["status"] == "completed" and workflow["tasks"][0]["result"] == {"ok": True}
    machines = {(e.component, e.trigger) for e in read_trace(orch.settings.trace)}  # type: ignore[arg-type]
    assert (f"task:{task_id}", "complete") in machines
    assert (f"workflow:{workflow_id}", "complete") in machines


async def test_empty_queue_answers_204(client: httpx.AsyncClient) -> None:
    await register(client, "w1", ["python"])
    assert (await poll(client, "w1")).status_code == 204


async def test_task_needing_other_capabilities_is_not_leased(client: httpx.AsyncClient) -> None:
    await register(client, "w1", ["python"])
    await submit(client, requiredCapabilities=["gpu"])
    assert (await poll(client, "w1")).status_code == 204


async def test_long_poll_returns_a_task_submitted_while_waiting(orch: Orchestrator, client: httpx.AsyncClient) -> None:
    await register(client, "w1", ["python"])
    waiting = asyncio.create_task(poll(client, "w1", wait=20))
    await until(lambda: orch.dispatcher.waiting == 1, "the poll to park in the dispatcher")
    assert not waiting.done()
    _, task_id = await submit(client)
    response = await asyncio.wait_for(waiting, 30)
    assert response.status_code == 200 and response.json()["tasks"][0]["taskId"] == task_id


async def test_max_leases_several_but_never_more_than_free_slots(client: httpx.AsyncClient) -> None:
    await register(client, "w1", ["python"], maxConcurrency=3)
    for _ in range(5):
        await submit(client)
    first = await poll(client, "w1", max=2)
    assert len(first.json()["tasks"]) == 2
    second = await poll(client, "w1", max=10)
    assert len(second.json()["tasks"]) == 1
    assert (await poll(client, "w1", max=10)).status_code == 204


async def test_higher_priority_is_leased_first(client: httpx.AsyncClient) -> None:
    await register(client, "w1", ["python"])
    _, low = await submit(client, priority=1)
    _, high = await submit(client, priority=9)
    assert (await poll(client, "w1")).json()["tasks"][0]["taskId"] == high
    workers = (await client.get("/api/v1/workers")).json()["workers"]
    assert workers[0]["status"] == "busy" and workers[0]["running"] == 1
    del low


async def test_stale_fencing_token_is_rejected_and_task_completes_once(client: httpx.AsyncClient) -> None:
    await register(client, "w1", ["python"])
    await register(client, "w2", ["python"])
    _, task_id = await submit(client)
    old = (await poll(client, "w1")).json()["tasks"][0]
    assert (await client.post("/api/v1/tasks/started", json=lease_body(old, "w1"))).status_code == 200
    assert (await client.delete("/api/v1/workers/w1")).status_code == 204  # re-queues the task

    new = (await poll(client, "w2")).json()["tasks"][0]
    assert new["taskId"] == task_id and new["fencingToken"] > old["fencingToken"] and new["attempt"] == 2

    stale = await client.post("/api/v1/tasks/completed", json=lease_body(old, "w1", result={"who": "w1"}))
    assert stale.status_code == 409 and stale.json()["error"]["field"] == "fencingToken"
    stale_progress = await client.post("/api/v1/tasks/progress", json=lease_body(old, "w1", percentage=10))
    assert stale_progress.status_code == 409

    assert (await client.post("/api/v1/tasks/started", json=lease_body(new, "w2"))).status_code == 200
    ok = await client.post("/api/v1/tasks/completed", json=lease_body(new, "w2", result={"who": "w2"}))
    assert ok.status_code == 200
    again = await client.post("/api/v1/tasks/completed", json=lease_body(new, "w2", result={"who": "again"}))
    assert again.status_code == 409
    task = (await client.get(f"/api/v1/tasks/{task_id}")).json()
    assert task["status"] == "completed" and task["result"] == {"who": "w2"}


async def test_failed_task_fails_its_workflow(client: httpx.AsyncClient) -> None:
    await register(client, "w1", ["python"])
    workflow_id, _ = await submit(client)
    task = (await poll(client, "w1")).json()["tasks"][0]
    await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))
    error = {"code": "BUILD_FAILED", "errorClass": "validation", "message": "make: *** error 2"}
    response = await client.post("/api/v1/tasks/failed", json=lease_body(task, "w1", error=error))
    assert response.status_code == 200 and response.json()["status"] == "failed"
    workflow = (await client.get(f"/api/v1/workflows/{workflow_id}")).json()
    assert workflow["status"] == "failed" and workflow["tasks"][0]["error"]["code"] == "BUILD_FAILED"


async def test_interrupted_task_is_requeued_with_its_state(client: httpx.AsyncClient) -> None:
    await register(client, "w1", ["python"])
    _, task_id = await submit(client)
    task = (await poll(client, "w1")).json()["tasks"][0]
    await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))
    response = await client.post("/api/v1/tasks/interrupted", json=lease_body(task, "w1", state={"step": 3}))
    assert response.status_code == 200 and response.json()["status"] == "queued"
    again = (await poll(client, "w1")).json()["tasks"][0]
    assert again["taskId"] == task_id and again["attempt"] == 2


async def test_openapi_document_lists_every_endpoint(client: httpx.AsyncClient) -> None:
    paths = set((await client.get("/openapi.json")).json()["paths"])
    assert {
        "/api/v1/workers/register", "/api/v1/workers/heartbeat", "/api/v1/workers/{workerId}", "/api/v1/workers",
        "/api/v1/tasks/poll", "/api/v1/tasks/started", "/api/v1/tasks/progress", "/api/v1/tasks/completed",
        "/api/v1/tasks/failed", "/api/v1/tasks/interrupted", "/api/v1/tasks/{taskId}", "/api/v1/tasks",
        "/api/v1/workflows", "/api/v1/workflows/{workflowId}", "/health/live", "/health/ready",
    } <= paths


async def test_trace_conforms_to_the_spec_machines(tmp_path: Path) -> None:
    """Two runs on one trace file, a re-registration and rejections: every line replays on spec."""
    from spec.conformance import check_trace

    settings = make_settings(tmp_path)
    for _ in range(2):
        async with Orchestrator(settings) as orch, httpx.AsyncClient(base_url=orch.url, headers=AUTH) as client:
            await register(client, "w1", ["python"])
            await register(client, "w1", ["python"])  # same id again: a new incarnation
            await client.post("/api/v1/workers/register", json={"capabilities": ["Bad"]})
            await client.post("/api/v1/workflows", json={"type": "noop", "priority": 99})
            _, task_id = await submit(client)
            task = (await poll(client, "w1")).json()["tasks"][0]
            await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))
            await client.post("/api/v1/tasks/completed", json=lease_body(task, "w1"))
            async with websockets.connect(ws_url(orch)) as ws:
                await ws.send(json.dumps({"type": "subscribe", "workflowId": task["workflowId"]}))
                await next_event(ws)
    report = check_trace(read_trace(settings.trace), policies=settings.policies)
    assert report.divergence is None, report
