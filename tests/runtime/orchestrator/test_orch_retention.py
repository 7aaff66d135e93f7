"""Event-log retention on a running orchestrator (RetentionPolicy, `runtime.orchestrator.retention`, issue 14).

A finished workflow's events are deleted by the supervised sweep once retention has passed, the
workflow itself stays readable, and a WebSocket resume of it is told clearly that its events are gone.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import func, select

from runtime.orchestrator import Orchestrator
from runtime.orchestrator.retention import sweep_expired_events
from runtime.store.models import EventRow
from spec.policies import RetentionPolicy
from tests.runtime.orchestrator.orch_helpers import AUTH, lease_body, make_settings, poll, register, submit

pytestmark = pytest.mark.anyio


async def _finished_workflow(client: httpx.AsyncClient) -> str:
    await register(client, "w1", ["python"])
    workflow_id, _ = await submit(client)
    task = (await poll(client, "w1")).json()["tasks"][0]
    assert (await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))).is_success
    assert (await client.post("/api/v1/tasks/completed", json=lease_body(task, "w1", result={}))).is_success
    return workflow_id


async def _event_count(orch: Orchestrator, workflow_id: str) -> int:
    async with orch.db.read() as session:
        return int(await session.scalar(select(func.count()).where(EventRow.workflow_id == workflow_id)) or 0)


async def _subscribe(orch: Orchestrator, message: dict[str, Any]) -> dict[str, Any]:
    async with websockets.connect(orch.url.replace("http://", "ws://") + "/ws", additional_headers=AUTH) as ws:
        await ws.send(json.dumps(message))
        answer: dict[str, Any] = json.loads(await ws.recv())
        return answer


async def test_a_finished_workflows_events_go_after_retention_and_a_resume_is_told_so(tmp_path: Path) -> None:
    async with Orchestrator(make_settings(tmp_path)) as orch, \
            httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as client:
        workflow_id = await _finished_workflow(client)
        kept = await _event_count(orch, workflow_id)
        assert kept > 0
        assert await sweep_expired_events(orch) == 0  # finished just now: retained
        assert (await _subscribe(orch, {"type": "subscribe", "workflowId": workflow_id, "lastEventId": 0}))[
            "type"] == "subscribed"

        finished_at = (await client.get(f"/api/v1/workflows/{workflow_id}")).json()
        later = orch.now() + orch.policies.retention.finished_events_s + 1
        orch.now = lambda: later  # type: ignore[method-assign]
        assert await sweep_expired_events(orch) == kept
        assert await _event_count(orch, workflow_id) == 0
        answer = await _subscribe(orch, {"type": "subscribe", "workflowId": workflow_id, "lastEventId": 2})
        assert answer["type"] == "error" and answer["error"]["field"] == "lastEventId", answer
        reason = answer["error"]["reason"]
        assert "were deleted" in reason and "RetentionPolicy.finished_events_s" in reason
        assert f"GET /api/v1/workflows/{workflow_id}" in reason
        fresh = await _subscribe(orch, {"type": "subscribe", "workflowId": workflow_id})
        assert fresh["type"] == "error" and fresh["error"]["field"] == "workflowId"
        # The workflow itself stays, with how it ended.
        view = await client.get(f"/api/v1/workflows/{workflow_id}")
        assert view.status_code == 200 and view.json()["status"] == finished_at["status"] == "completed"


async def test_the_supervised_sweep_runs_on_its_interval(tmp_path: Path) -> None:
    quick = RetentionPolicy(finished_events_s=0.001, interval_s=0.05, batch_size=1)
    async with Orchestrator(make_settings(tmp_path, retention=quick)) as orch, \
            httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as client:
        assert orch.retention_task is not None and not orch.retention_task.done()
        workflow_id = await _finished_workflow(client)
        events = await _event_count(orch, workflow_id)
        assert events > 1  # one per batch: a sweep repeats batches until none is left
        deadline = time.monotonic() + 30
        while await _event_count(orch, workflow_id):  # a bounded wait for the sweep, not a guessed time
            assert time.monotonic() < deadline, "the supervised retention sweep never deleted the events"
            await asyncio.sleep(0.01)
        assert orch.leadership.leading and not orch.retention_task.done()
