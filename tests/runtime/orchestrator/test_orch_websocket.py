"""WebSocket /ws (issue 3 §3): authentication, resume, bounded buffers, shutdown notice."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from runtime.orchestrator import Orchestrator
from runtime.protocol import Event, EventType
from spec.policies import WebSocketPolicy
from spec.trace import read_trace
from tests.runtime.orchestrator.orch_helpers import (
    TOKEN,
    assert_conforms,
    lease_body,
    make_settings,
    poll,
    register,
    submit,
)

pytestmark = pytest.mark.anyio


def ws_url(orch: Orchestrator, token: str = TOKEN) -> str:
    return orch.url.replace("http://", "ws://") + f"/ws?token={token}"


async def recv(ws: websockets.ClientConnection) -> dict[str, object]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), 30)))


async def run_task(client: httpx.AsyncClient, steps: int) -> tuple[str, str]:
    await register(client, "w1", ["python"])
    workflow_id, task_id = await submit(client)
    task = (await poll(client, "w1")).json()["tasks"][0]
    await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))
    for n in range(steps):
        await client.post("/api/v1/tasks/progress", json=lease_body(task, "w1", percentage=n))
    return workflow_id, task_id


async def test_invalid_token_is_closed_with_4401(orch: Orchestrator) -> None:
    async with websockets.connect(ws_url(orch, "wrong")) as ws:
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 30)
    assert info.value.rcvd is not None and info.value.rcvd.code == 4401


async def test_bad_messages_get_an_error_naming_the_field(orch: Orchestrator) -> None:
    async with websockets.connect(ws_url(orch)) as ws:
        await ws.send("{not json")
        assert (await recv(ws))["error"]["field"] == "message"  # type: ignore[index]
        await ws.send(json.dumps({"type": "subscribe", "workflowId": "", "lastEventId": -1}))
        assert (await recv(ws))["error"]["field"] in ("workflowId", "lastEventId")  # type: ignore[index]
        await ws.send(json.dumps({"type": "subscribe", "workflowId": "wf-unknown"}))
        assert (await recv(ws))["error"] == {"field": "workflowId", "reason": "unknown workflow 'wf-unknown'"}


async def test_reconnecting_client_resumes_after_its_last_event(orch: Orchestrator, client: httpx.AsyncClient) -> None:
    workflow_id, _ = await run_task(client, steps=3)
    async with websockets.connect(ws_url(orch)) as ws:
        await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id}))
        await recv(ws)
        first = [await recv(ws) for _ in range(4)]  # started + 3 progress
    assert [e["type"] for e in first] == ["TASK_STARTED"] + ["TASK_PROGRESS"] * 3
    seen = int(first[1]["id"])  # type: ignore[call-overload]
    async with websockets.connect(ws_url(orch)) as ws:
        await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id, "lastEventId": seen}))
        await recv(ws)
        resumed = [await recv(ws) for _ in range(2)]
    assert [e["id"] for e in resumed] == [e["id"] for e in first[2:]]


async def test_slow_subscriber_is_dropped_with_1008(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, websocket=WebSocketPolicy(subscriber_buffer=2))
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with Orchestrator(settings) as orch, httpx.AsyncClient(base_url=orch.url, headers=auth) as client:
        workflow_id, _ = await run_task(client, steps=0)
        async with websockets.connect(ws_url(orch)) as ws:
            await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id}))
            await recv(ws)
            await recv(ws)  # the replayed TASK_STARTED
            # A burst larger than the buffer, published without yielding to the sender task.
            for n in range(10):
                orch.hub.publish(Event(id=10_000 + n, type=EventType.TASK_PROGRESS, workflow_id=workflow_id,
                                       time=time.time(), payload={"percentage": n}))
            with pytest.raises(ConnectionClosed) as info:
                while True:
                    await asyncio.wait_for(ws.recv(), 30)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008
        assert "buffer overflow" in info.value.rcvd.reason
        # the orchestrator is unaffected
        assert (await client.get("/health/ready")).status_code == 200
    triggers = [e.trigger for e in read_trace(settings.trace) if e.machine == "websocket_session"]  # type: ignore[arg-type]
    assert "buffer_overflow" in triggers
    assert_conforms(settings)


async def test_shutdown_sends_notice_and_refuses_new_connections(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    orch = Orchestrator(settings)
    await orch.start()
    async with httpx.AsyncClient(base_url=orch.url, headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        workflow_id, _ = await submit(client)
    async with websockets.connect(ws_url(orch)) as ws:
        await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id}))
        await recv(ws)
        stopping = asyncio.create_task(orch.stop())
        notice = await recv(ws)
        assert notice["type"] == "SHUTDOWN" and notice["workflowId"] == workflow_id
        with pytest.raises(ConnectionClosed) as info:
            await asyncio.wait_for(ws.recv(), 30)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
    await asyncio.wait_for(stopping, 60)
