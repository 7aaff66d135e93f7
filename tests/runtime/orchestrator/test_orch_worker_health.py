"""Worker health (issue 3 §5): silent workers leave rotation and their tasks go back to the queue."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from runtime.config import OrchestratorSettings
from runtime.orchestrator import Orchestrator
from runtime.resilience.clock import FakeClock
from spec.policies import HeartbeatPolicy
from spec.trace import read_trace
from tests.runtime.orchestrator.orch_helpers import (
    assert_conforms,
    lease_body,
    make_settings,
    poll,
    register,
    stop_on_virtual_time,
    submit,
    until,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def settings(tmp_path: Path) -> OrchestratorSettings:
    """These tests are about heartbeats: the spec's own heartbeat policy, on virtual time."""
    return make_settings(tmp_path, heartbeat=HeartbeatPolicy())


@pytest.fixture
def clock() -> FakeClock:
    """The orchestrator's clock: it moves only when a test advances it, so silence is exact."""
    return FakeClock(start=1_000.0, auto_advance=False)


@pytest.fixture
async def orch(settings: OrchestratorSettings, clock: FakeClock) -> AsyncIterator[Orchestrator]:
    orchestrator = Orchestrator(settings, clock=clock)
    await orchestrator.start()
    await until(lambda: clock.pending_sleepers == 1, "the health monitor to wait for its first sweep")
    try:
        yield orchestrator
    finally:
        await stop_on_virtual_time(orchestrator, clock)


async def sweep_after(clock: FakeClock, seconds: float) -> None:
    """Move virtual time on by `seconds` (a multiple of the sweep interval) and let each sweep finish."""
    await clock.advance(seconds)
    await until(lambda: clock.pending_sleepers == 1, "the health monitor's sweep to finish")


async def test_register_answers_the_spec_heartbeat_policy(orch: Orchestrator, client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/workers/register", json={"capabilities": ["python"]})
    body = response.json()
    assert body["workerId"]
    assert body["heartbeatIntervalS"] == orch.policies.heartbeat.interval_s
    assert body["heartbeatTimeoutS"] == orch.policies.heartbeat.timeout_s
    assert body["leaseTtlS"] == orch.policies.lease.lease_ttl_s


async def test_silent_worker_is_marked_unhealthy_and_its_task_requeued(
    orch: Orchestrator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Detection on virtual time: a worker silent for less than ``timeout_s`` stays in rotation; the
    first sweep after it has been silent for ``timeout_s`` takes it out and re-queues its task, and
    the trace's stamps (the same clock) conform to the spec's detection window."""
    heartbeat = orch.policies.heartbeat
    await register(client, "w1", ["python"])
    await register(client, "w2", ["python"])
    _, task_id = await submit(client)
    task = (await poll(client, "w1")).json()["tasks"][0]
    await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))

    async def status(worker_id: str) -> str:
        workers = {w["workerId"]: w for w in (await client.get("/api/v1/workers")).json()["workers"]}
        return str(workers[worker_id]["status"])

    silent_for = 0.0
    while silent_for + heartbeat.sweep_interval_s < heartbeat.timeout_s:  # bounded: timeout / interval steps
        await sweep_after(clock, heartbeat.sweep_interval_s)
        silent_for += heartbeat.sweep_interval_s
        await client.post("/api/v1/workers/heartbeat", json={"workerId": "w2"})
        assert await status("w1") == "busy", f"w1 taken out after only {silent_for:g} s of silence"
        assert (await client.get(f"/api/v1/tasks/{task_id}")).json()["status"] == "running"
    await sweep_after(clock, heartbeat.sweep_interval_s)
    await sweep_after(clock, heartbeat.sweep_interval_s)  # the detection window: timeout + one interval
    assert await status("w1") == "unhealthy"
    assert await status("w2") == "idle"
    assert (await client.get(f"/api/v1/tasks/{task_id}")).json()["status"] == "queued"
    # w1 is out of rotation: it gets nothing; w2 takes the task over and completes it once.
    assert (await poll(client, "w1")).status_code == 204
    again = (await poll(client, "w2")).json()["tasks"][0]
    assert again["taskId"] == task_id
    await client.post("/api/v1/tasks/started", json=lease_body(again, "w2"))
    assert (await client.post("/api/v1/tasks/completed", json=lease_body(again, "w2"))).status_code == 200
    assert (await client.post("/api/v1/tasks/completed", json=lease_body(task, "w1"))).status_code == 409
    events = read_trace(orch.settings.trace)  # type: ignore[arg-type]
    triggers = [(e.component, e.trigger) for e in events]
    assert triggers.index(("worker:w1", "heartbeats_missed")) < triggers.index((f"task:{task_id}", "lease_lost"))
    (missed,) = [e for e in events if (e.component, e.trigger) == ("worker:w1", "heartbeats_missed")]
    assert heartbeat.timeout_s <= missed.data["silentFor"] <= heartbeat.timeout_s + heartbeat.sweep_interval_s
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


async def test_a_silent_workers_task_goes_to_the_next_worker_with_the_state_its_progress_carried(
    orch: Orchestrator, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    """Issue 14, recovery: the handler's saved state rides on progress reports, so a task re-queued
    because its worker went silent (no hand-back) still resumes from it on the next worker."""
    heartbeat = orch.policies.heartbeat
    await register(client, "w1", ["python"])
    await register(client, "w2", ["python"])
    _, task_id = await submit(client)
    task = (await poll(client, "w1")).json()["tasks"][0]
    await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))
    progress = {**lease_body(task, "w1"), "percentage": 40, "step": "step 2/5", "milestone": True,
                "state": {"stepsDone": 2}}
    assert (await client.post("/api/v1/tasks/progress", json=progress)).status_code == 200
    without_state = {**progress, "percentage": 50, "state": None}
    assert (await client.post("/api/v1/tasks/progress", json=without_state)).status_code == 200  # kept
    silent_for = 0.0
    while silent_for <= heartbeat.timeout_s:  # bounded: timeout / interval sweeps, w2 alive meanwhile
        await sweep_after(clock, heartbeat.sweep_interval_s)
        silent_for += heartbeat.sweep_interval_s
        await client.post("/api/v1/workers/heartbeat", json={"workerId": "w2"})
    again = (await poll(client, "w2")).json()["tasks"][0]
    assert again["taskId"] == task_id and again["savedState"] == {"stepsDone": 2}
