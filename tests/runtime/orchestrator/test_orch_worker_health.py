"""Worker health (issue 3 §5): silent workers leave rotation and their tasks go back to the queue."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from runtime.config import OrchestratorSettings
from runtime.orchestrator import Orchestrator
from spec.trace import read_trace
from tests.runtime.orchestrator.orch_helpers import (
    FAST_HEARTBEAT,
    assert_conforms,
    lease_body,
    make_settings,
    poll,
    register,
    submit,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(tmp_path: Path) -> OrchestratorSettings:
    """These tests are about heartbeats: a silent worker leaves rotation after 0.6 s."""
    return make_settings(tmp_path, heartbeat=FAST_HEARTBEAT)


async def wait_for_task_status(client: httpx.AsyncClient, task_id: str, status: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (await client.get(f"/api/v1/tasks/{task_id}")).json()["status"] == status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"task {task_id} never reached {status!r}")


async def test_register_answers_the_spec_heartbeat_policy(orch: Orchestrator, client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/workers/register", json={"capabilities": ["python"]})
    body = response.json()
    assert body["workerId"]
    assert body["heartbeatIntervalS"] == orch.policies.heartbeat.interval_s
    assert body["heartbeatTimeoutS"] == orch.policies.heartbeat.timeout_s
    assert body["leaseTtlS"] == orch.policies.lease.lease_ttl_s


async def test_silent_worker_is_marked_unhealthy_and_its_task_requeued(
    orch: Orchestrator, client: httpx.AsyncClient
) -> None:
    await register(client, "w1", ["python"])
    await register(client, "w2", ["python"])
    _, task_id = await submit(client)
    task = (await poll(client, "w1")).json()["tasks"][0]
    await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))

    async def keep_w2_alive() -> None:
        while True:
            await client.post("/api/v1/workers/heartbeat", json={"workerId": "w2"})
            await asyncio.sleep(orch.policies.heartbeat.interval_s / 2)

    alive = asyncio.create_task(keep_w2_alive())
    try:
        await wait_for_task_status(client, task_id, "queued")
        workers = {w["workerId"]: w for w in (await client.get("/api/v1/workers")).json()["workers"]}
        assert workers["w1"]["status"] == "unhealthy" and workers["w1"]["running"] == 0
        assert workers["w2"]["status"] == "idle"
        # w1 is out of rotation: it gets nothing; w2 takes the task over and completes it once.
        assert (await poll(client, "w1")).status_code == 204
        again = (await poll(client, "w2")).json()["tasks"][0]
        assert again["taskId"] == task_id
        await client.post("/api/v1/tasks/started", json=lease_body(again, "w2"))
        assert (await client.post("/api/v1/tasks/completed", json=lease_body(again, "w2"))).status_code == 200
        assert (await client.post("/api/v1/tasks/completed", json=lease_body(task, "w1"))).status_code == 409
    finally:
        alive.cancel()
    triggers = [(e.component, e.trigger) for e in read_trace(orch.settings.trace)]  # type: ignore[arg-type]
    assert ("worker:w1", "heartbeats_missed") in triggers
    assert triggers.index(("worker:w1", "heartbeats_missed")) < triggers.index((f"task:{task_id}", "lease_lost"))
    assert_conforms(orch.settings)


async def test_healthy_heartbeat_returns_worker_to_rotation(orch: Orchestrator, client: httpx.AsyncClient) -> None:
    await register(client, "w1", ["python"])
    response = await client.post("/api/v1/workers/heartbeat",
                                 json={"workerId": "w1", "health": {"status": "unhealthy", "cpuPercent": 99}})
    assert response.json()["status"] == "unhealthy"
    await submit(client)
    assert (await poll(client, "w1")).status_code == 204
    response = await client.post("/api/v1/workers/heartbeat", json={"workerId": "w1"})
    assert response.json() == {"status": "idle", "cancelTaskIds": [], "shuttingDown": False}
    assert (await poll(client, "w1")).status_code == 200


async def test_deregistration_requeues_the_workers_tasks(client: httpx.AsyncClient) -> None:
    await register(client, "w1", ["python"], maxConcurrency=2)
    ids = {(await submit(client))[1] for _ in range(2)}
    leased = (await poll(client, "w1", max=2)).json()["tasks"]
    assert {t["taskId"] for t in leased} == ids
    assert (await client.delete("/api/v1/workers/w1")).status_code == 204
    for task_id in ids:
        assert (await client.get(f"/api/v1/tasks/{task_id}")).json()["status"] == "queued"
    assert (await poll(client, "w1")).status_code == 409  # deregistered: must register again
    await register(client, "w1", ["python"])
    assert (await poll(client, "w1")).status_code == 200
