"""Shared by the monitoring tests: an orchestrator in the test's loop, a task run to completion."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets

from runtime.orchestrator import Orchestrator
from runtime.resilience.clock import FakeClock
from spec.policies import DEFAULT_POLICIES
from tests.runtime.orchestrator.orch_helpers import (
    AUTH,
    TOKEN,
    lease_body,
    make_settings,
    poll,
    register,
    stop_on_virtual_time,
    submit,
)


@asynccontextmanager
async def running(tmp_path: Path, settings: dict[str, Any] | None = None, *, clock: FakeClock | None = None,
                  **policy_overrides: Any) -> AsyncIterator[tuple[Orchestrator, httpx.AsyncClient]]:
    """A started orchestrator (real HTTP on 127.0.0.1) and an authenticated client.

    Heartbeats use the spec's timings unless overridden: these tests send none, and the fast
    test heartbeat would take a worker out of rotation on a loaded machine mid-test. With `clock`
    (a `FakeClock` that does not advance by itself) the orchestrator runs on virtual time.
    """
    base = make_settings(tmp_path, **{"heartbeat": DEFAULT_POLICIES.heartbeat, **policy_overrides})
    orch = Orchestrator(base.model_copy(update=settings or {}), clock=clock)
    await orch.start()
    try:
        async with httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as client:
            yield orch, client
    finally:
        await (orch.stop() if clock is None else stop_on_virtual_time(orch, clock))


async def run_one_task(client: httpx.AsyncClient, worker_id: str = "w1", *, fail: bool = False) -> tuple[str, str]:
    """register → submit → poll → started → completed (or failed); returns (workflowId, taskId)."""
    await register(client, worker_id, ["python"])
    workflow_id, task_id = await submit(client)
    response = await poll(client, worker_id)
    assert response.status_code == 200, response.text
    task = response.json()["tasks"][0]
    assert (await client.post("/api/v1/tasks/started", json=lease_body(task, worker_id))).status_code == 200
    if fail:
        error = {"code": "BUILD_FAILED", "errorClass": "validation", "message": "make: *** [all] Error 2"}
        answer = await client.post("/api/v1/tasks/failed", json=lease_body(task, worker_id, error=error))
    else:
        answer = await client.post("/api/v1/tasks/completed", json=lease_body(task, worker_id, result={"ok": True}))
    assert answer.status_code == 200, answer.text
    return workflow_id, task_id


def ws_url(orch: Orchestrator) -> str:
    return orch.url.replace("http://", "ws://") + f"/ws?token={TOKEN}"


async def next_message(ws: websockets.ClientConnection, timeout_s: float = 30.0) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), timeout_s)))


async def wait_for_clients(orch: Orchestrator, count: int, timeout_s: float = 30.0) -> None:
    """The hub registers a client after authenticating it, a little after the handshake returns."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while orch.hub.clients < count:
        assert loop.time() < deadline, f"{orch.hub.clients} WebSocket client(s) registered, expected {count}"
        await asyncio.sleep(0.01)
