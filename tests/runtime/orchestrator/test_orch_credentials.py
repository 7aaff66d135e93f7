"""Scoped credentials (docs/security.md): admin, client and worker tokens, and each worker's own token.

Regression for "any token holder can overwrite any running task's result": a client could read
``leaseWorker`` and ``fencingToken`` and post a forged completion that was stored.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from runtime.config import OrchestratorSettings
from runtime.orchestrator import Orchestrator
from tests.runtime.orchestrator.orch_helpers import TOKEN, make_settings

pytestmark = pytest.mark.anyio

CLIENT, WORKER = "client-token", "worker-token"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def settings(tmp_path: Path) -> OrchestratorSettings:
    return make_settings(tmp_path).model_copy(update={"client_tokens": (CLIENT,), "worker_tokens": (WORKER,)})


@pytest.fixture
async def http(orch: Orchestrator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=orch.url, timeout=30) as client:
        yield client


async def register(http: httpx.AsyncClient, worker_id: str, token: str = WORKER) -> str:
    response = await http.post("/api/v1/workers/register", headers=bearer(token),
                               json={"workerId": worker_id, "capabilities": ["python"]})
    assert response.status_code == 200, response.text
    worker_token = response.json()["workerToken"]
    assert isinstance(worker_token, str) and worker_token not in (TOKEN, CLIENT, WORKER)
    return worker_token


async def leased_task(http: httpx.AsyncClient, worker_token: str, worker_id: str) -> dict[str, Any]:
    assert (await http.post("/api/v1/workflows", headers=bearer(CLIENT), json={"type": "noop"})).status_code == 201
    response = await http.get("/api/v1/tasks/poll", headers=bearer(worker_token), params={"workerId": worker_id})
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()["tasks"][0]
    return task


def report(task: dict[str, Any], worker_id: str, **extra: Any) -> dict[str, Any]:
    return {"taskId": task["taskId"], "workerId": worker_id, "fencingToken": task["fencingToken"], **extra}


async def test_nobody_but_the_lease_holder_can_complete_its_task(http: httpx.AsyncClient) -> None:
    w1, w2 = await register(http, "w1"), await register(http, "w2")
    task = await leased_task(http, w1, "w1")

    seen_by_client = (await http.get(f"/api/v1/tasks/{task['taskId']}", headers=bearer(CLIENT))).json()
    assert seen_by_client["leaseWorker"] is None and seen_by_client["fencingToken"] is None
    seen_by_admin = (await http.get(f"/api/v1/tasks/{task['taskId']}", headers=bearer(TOKEN))).json()
    assert seen_by_admin["leaseWorker"] == "w1"

    forged = report(task, "w1", result={"forged": True})
    for token in (CLIENT, WORKER, w2):
        answer = await http.post("/api/v1/tasks/completed", headers=bearer(token), json=forged)
        assert answer.status_code == 403, (token, answer.text)
        assert answer.json()["error"]["field"] in ("Authorization", "workerId")
    as_w2 = await http.post("/api/v1/tasks/completed", headers=bearer(w2), json=forged)
    assert "'w1'" in as_w2.json()["error"]["reason"] and "'w2'" in as_w2.json()["error"]["reason"]

    assert (await http.post("/api/v1/tasks/started", headers=bearer(w1), json=report(task, "w1"))).status_code == 200
    real = await http.post("/api/v1/tasks/completed", headers=bearer(w1), json=report(task, "w1", result={"ok": 1}))
    assert real.status_code == 200, real.text
    stored = (await http.get(f"/api/v1/tasks/{task['taskId']}", headers=bearer(CLIENT))).json()
    assert stored["result"] == {"ok": 1}


async def test_a_worker_credential_only_registers(http: httpx.AsyncClient) -> None:
    await register(http, "w1")
    for method, path, kwargs in (
        ("GET", "/api/v1/tasks/poll", {"params": {"workerId": "w1"}}),
        ("POST", "/api/v1/workers/heartbeat", {"json": {"workerId": "w1"}}),
        ("GET", "/api/v1/tasks", {}),
        ("POST", "/api/v1/workflows", {"json": {"type": "noop"}}),
        ("DELETE", "/api/v1/workers/w1", {}),
    ):
        answer = await http.request(method, path, headers=bearer(WORKER), **kwargs)
        assert answer.status_code == 403, (path, answer.text)
        assert "may only register" in answer.json()["error"]["reason"]


async def test_a_client_submits_and_reads_but_does_not_work(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/v1/workers", headers=bearer(CLIENT))).status_code == 200
    assert (await http.get("/api/v1/alerts", headers=bearer(CLIENT))).status_code == 200
    registered = await http.post("/api/v1/workers/register", headers=bearer(CLIENT),
                                 json={"workerId": "c1", "capabilities": ["python"]})
    assert registered.status_code == 403


async def test_a_live_worker_id_belongs_to_its_token(orch: Orchestrator, http: httpx.AsyncClient) -> None:
    w1 = await register(http, "w1")
    taken = await http.post("/api/v1/workers/register", headers=bearer(WORKER),
                            json={"workerId": "w1", "capabilities": ["python"]})
    assert taken.status_code == 409 and taken.json()["error"]["field"] == "workerId"
    again = await register(http, "w1", token=w1)  # its own token may register it again (a restart)
    assert (await http.post("/api/v1/workers/heartbeat", headers=bearer(w1), json={"workerId": "w1"})).status_code \
        == 401  # the previous token stopped working
    assert (await http.post("/api/v1/workers/heartbeat", headers=bearer(again),
                            json={"workerId": "w1"})).status_code == 200
    # Silent past the heartbeat timeout, the id is free again (a crashed worker restarting with --worker-id).
    later = orch.now() + orch.policies.heartbeat.timeout_s + 1
    orch.now = lambda: later  # type: ignore[method-assign]
    await register(http, "w1")


async def test_deleting_a_worker_needs_its_own_token_or_an_admin(http: httpx.AsyncClient) -> None:
    w1, w2 = await register(http, "w1"), await register(http, "w2")
    refused = await http.delete("/api/v1/workers/w1", headers=bearer(w2))
    assert refused.status_code == 403
    assert (await http.delete("/api/v1/workers/w1", headers=bearer(TOKEN))).status_code == 204
    assert (await http.post("/api/v1/workers/heartbeat", headers=bearer(w1),
                            json={"workerId": "w1"})).status_code == 401
    assert (await http.delete("/api/v1/workers/w2", headers=bearer(w2))).status_code == 204


async def test_worker_tokens_survive_an_orchestrator_restart(settings: OrchestratorSettings) -> None:
    async with Orchestrator(settings) as orch, httpx.AsyncClient(base_url=orch.url) as http:
        w1 = await register(http, "w1")
    async with Orchestrator(settings) as orch, httpx.AsyncClient(base_url=orch.url) as http:
        answer = await http.post("/api/v1/workers/heartbeat", headers=bearer(w1), json={"workerId": "w1"})
        assert answer.status_code == 200, answer.text
    assert w1 not in settings.db.read_bytes().decode("latin-1")  # only its digest is stored


async def test_websocket_clients_see_no_lease_holders(orch: Orchestrator, http: httpx.AsyncClient) -> None:
    w1 = await register(http, "w1")
    task = await leased_task(http, w1, "w1")
    assert (await http.post("/api/v1/tasks/started", headers=bearer(w1), json=report(task, "w1"))).status_code == 200
    url = orch.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url, additional_headers=bearer(CLIENT)) as ws:
        await ws.send(json.dumps({"type": "subscribe", "workflowId": task["workflowId"]}))
        assert json.loads(await ws.recv())["type"] == "subscribed"
        started = json.loads(await ws.recv())
    assert started["type"] == "TASK_STARTED" and "workerId" not in started["payload"]
    async with websockets.connect(url, additional_headers=bearer(TOKEN)) as ws:
        await ws.send(json.dumps({"type": "subscribe", "workflowId": task["workflowId"]}))
        await ws.recv()
        assert json.loads(await ws.recv())["payload"]["workerId"] == "w1"
    with pytest.raises(ConnectionClosed) as closed:
        async with websockets.connect(url, additional_headers=bearer(w1)) as ws:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
