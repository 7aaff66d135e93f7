"""Two replicas on one PostgreSQL database tell each other what they committed (LISTEN/NOTIFY,
runtime.orchestrator.replica_feed): a worker long-polling one replica is woken by a submit on the
other, and a WebSocket subscriber on one replica receives the events of work done on the other;
resuming from a last event id works on either; a worker's own token, issued by one replica, works
on the other, and a token a re-registration or a deregistration withdrew stops working on both."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from runtime.orchestrator import Orchestrator
from tests.postgres_server import PostgresServer
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

LONG_POLL_S = 20.0
WORKER_ROLE_TOKEN = "worker-role-token"


@pytest.fixture
async def replicas(tmp_path: Path, postgres_server: PostgresServer) -> AsyncIterator[tuple[Orchestrator, Orchestrator]]:
    database = postgres_server.create_database()
    started: list[Orchestrator] = []
    try:
        for name in ("a", "b"):
            settings = make_settings(tmp_path).model_copy(
                update={"db": postgres_server.location(database), "trace": tmp_path / f"{name}.jsonl",
                        "worker_tokens": (WORKER_ROLE_TOKEN,)})
            orch = Orchestrator(settings)
            await orch.start()
            started.append(orch)
        # A listener's last statement is its LISTEN, then, from `retry_s` on, its keepalive (SELECT 1):
        # waiting for two LISTENs at once missed a replica that had already moved on to its keepalive.
        listening = ("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'orchestrator-change-feed' "
                     "AND (query LIKE 'LISTEN%' OR query = 'SELECT 1')")
        await until(lambda: postgres_server.sql(listening, database=database) == "2", "both replicas to listen", 60)
        yield started[0], started[1]
    finally:
        for orch in started:
            await orch.stop()
        postgres_server.drop_databases([database])


def _ws_url(orch: Orchestrator) -> str:
    return orch.url.replace("http://", "ws://") + f"/ws?token={TOKEN}"


async def test_a_long_poll_on_one_replica_is_woken_by_a_submit_on_the_other(
    replicas: tuple[Orchestrator, Orchestrator],
) -> None:
    a, b = replicas
    async with httpx.AsyncClient(base_url=a.url, headers=AUTH, timeout=60) as on_a, \
            httpx.AsyncClient(base_url=b.url, headers=AUTH, timeout=60) as on_b:
        await register(on_a, "w1", ["python"])
        waiting = asyncio.create_task(poll(on_a, "w1", wait=LONG_POLL_S))
        await until(lambda: a.dispatcher.waiting == 1, "the poll to park on replica a")
        submitted = time.monotonic()
        _, task_id = await submit(on_b)
        response = await asyncio.wait_for(waiting, LONG_POLL_S * 2)
        assert response.status_code == 200 and response.json()["tasks"][0]["taskId"] == task_id
        assert time.monotonic() - submitted < LONG_POLL_S / 2, "woken by the notice, not by the poll's end"


async def test_a_subscriber_on_one_replica_receives_the_events_of_work_on_the_other_and_resumes_on_either(
    replicas: tuple[Orchestrator, Orchestrator],
) -> None:
    a, b = replicas
    async with httpx.AsyncClient(base_url=b.url, headers=AUTH, timeout=60) as on_b:
        await register(on_b, "w1", ["python"])
        workflow_id, _ = await submit(on_b)
        async with websockets.connect(_ws_url(a)) as ws:
            await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id}))
            json.loads(await asyncio.wait_for(ws.recv(), 30))  # the subscription's acknowledgement or replay
            task = (await poll(on_b, "w1")).json()["tasks"][0]
            await on_b.post("/api/v1/tasks/started", json=lease_body(task, "w1"))
            received: list[dict[str, object]] = []
            while not any(e.get("type") == "TASK_STARTED" for e in received):
                received.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        started = next(e for e in received if e.get("type") == "TASK_STARTED")
        await on_b.post("/api/v1/tasks/progress", json=lease_body(task, "w1", percentage=50))
    for replica in (a, b):
        async with websockets.connect(_ws_url(replica)) as ws:
            await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id, "lastEventId": started["id"]}))
            resumed: list[dict[str, object]] = []
            while not any(e.get("type") == "TASK_PROGRESS" for e in resumed):
                resumed.append(json.loads(await asyncio.wait_for(ws.recv(), 30)))
        assert all(int(str(e["id"])) > int(str(started["id"])) for e in resumed if "id" in e and "type" in e
                   and str(e["type"]).startswith("TASK_")), resumed


async def _heartbeat_status(orch: Orchestrator, token: str, worker_id: str) -> int:
    async with httpx.AsyncClient(base_url=orch.url, timeout=30) as http:
        response = await http.post("/api/v1/workers/heartbeat", headers={"Authorization": f"Bearer {token}"},
                                   json={"workerId": worker_id})
    return response.status_code


async def _until_heartbeat_answers(orch: Orchestrator, token: str, worker_id: str, status: int) -> None:
    """Wait, in bounded steps, until a heartbeat with `token` on `orch` answers `status`."""
    deadline = time.monotonic() + 30
    while (answered := await _heartbeat_status(orch, token, worker_id)) != status:
        assert time.monotonic() < deadline, f"a heartbeat on {orch.url} still answers {answered}, not {status}"
        await asyncio.sleep(0.02)


async def _register(orch: Orchestrator, token: str, worker_id: str) -> str:
    async with httpx.AsyncClient(base_url=orch.url, timeout=30) as http:
        response = await http.post("/api/v1/workers/register", headers={"Authorization": f"Bearer {token}"},
                                   json={"workerId": worker_id, "capabilities": ["python"]})
    assert response.status_code == 200, response.text
    worker_token: str = response.json()["workerToken"]
    return worker_token


async def test_a_workers_own_token_works_on_every_replica_until_it_is_withdrawn(
    replicas: tuple[Orchestrator, Orchestrator],
) -> None:
    """Regression (the 2,000-task failover e2e): a worker that registered with replica a and failed
    over to b got 401 there — b knew only the tokens of workers registered when it started — and,
    registering again, 409 (its id was live under the token b did not know), so it exited."""
    a, b = replicas
    first = await _register(a, WORKER_ROLE_TOKEN, "w1")
    await _until_heartbeat_answers(b, first, "w1", 200)
    second = await _register(b, first, "w1")  # a new process of w1 registers again, on the other replica
    await _until_heartbeat_answers(a, first, "w1", 401)  # the replaced token stops working on a too
    assert await _heartbeat_status(a, second, "w1") == 200
    async with httpx.AsyncClient(base_url=a.url, timeout=30) as http:
        gone = await http.delete("/api/v1/workers/w1", headers={"Authorization": f"Bearer {second}"})
    assert gone.status_code == 204
    await _until_heartbeat_answers(b, second, "w1", 401)
