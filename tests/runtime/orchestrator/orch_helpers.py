"""Helpers shared by the orchestrator tests: settings, HTTP shortcuts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from runtime.config import OrchestratorSettings
from runtime.orchestrator import Orchestrator
from runtime.resilience.clock import FakeClock
from spec.policies import DEFAULT_POLICIES, HeartbeatPolicy, Policies, ProgressPolicy, ShutdownPolicy

TOKEN = "test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}

#: For the tests about heartbeats: a worker that stays silent for 0.6 s leaves rotation.
#: For every other test: their workers never heartbeat, and on a loaded machine 0.6 s between
#: registering and polling is not enough to keep them in rotation.
PATIENT_HEARTBEAT = HeartbeatPolicy(interval_s=1.0, timeout_s=30.0)
#: Stopping the orchestrator after each test takes a fraction of a second, not the seed's deadlines.
QUICK_SHUTDOWN = ShutdownPolicy(drain_deadline_s=0.2, check_interval_s=0.05, cancel_grace_s=0.2)
#: Tests post progress reports back to back; the progress-rate tests set their own policy.
UNTHROTTLED_PROGRESS = ProgressPolicy(interval_s=0.001, milestone_min_gap_s=0)


async def until(condition: Callable[[], bool], what: str, timeout_s: float = 30.0) -> None:
    """Wait, in bounded steps, for `condition`: a test waits for the state it needs, not a guessed time."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s} s waiting for {what}"
        await asyncio.sleep(0.005)


async def stop_on_virtual_time(orch: Orchestrator, clock: FakeClock) -> None:
    """Stop an orchestrator whose clock is `clock`: its shutdown drain waits on that clock, so
    time is moved on (one check interval at a time, bounded) until the shutdown is done."""
    stopping = asyncio.create_task(orch.stop())
    for _ in range(1_000):
        if stopping.done():
            break
        await clock.advance(orch.policies.shutdown.check_interval_s)
        await asyncio.sleep(0.01)
    await stopping


def make_settings(tmp_path: Path, **policy_overrides: Any) -> OrchestratorSettings:
    """Spec policies, except patient heartbeats and a quick shutdown unless a test overrides them."""
    policies = DEFAULT_POLICIES.model_copy(
        update={"heartbeat": PATIENT_HEARTBEAT, "shutdown": QUICK_SHUTDOWN, "progress": UNTHROTTLED_PROGRESS,
                **policy_overrides})
    return OrchestratorSettings(
        db=tmp_path / "orch.db", port=0, tokens=(TOKEN,), trace=tmp_path / "trace.jsonl",
        policies=Policies.model_validate(policies.model_dump()),
    )


async def register(client: httpx.AsyncClient, worker_id: str, capabilities: list[str], **extra: Any) -> None:
    response = await client.post("/api/v1/workers/register",
                                 json={"workerId": worker_id, "capabilities": capabilities, **extra})
    assert response.status_code == 200, response.text


async def submit(client: httpx.AsyncClient, **body: Any) -> tuple[str, str]:
    response = await client.post("/api/v1/workflows", json={"type": "noop", **body})
    assert response.status_code == 201, response.text
    data = response.json()
    return data["workflowId"], data["taskIds"][0]


async def poll(client: httpx.AsyncClient, worker_id: str, **params: Any) -> httpx.Response:
    return await client.get("/api/v1/tasks/poll", params={"workerId": worker_id, **params})


def lease_body(task: dict[str, Any], worker_id: str, **extra: Any) -> dict[str, Any]:
    return {"taskId": task["taskId"], "workerId": worker_id, "fencingToken": task["fencingToken"], **extra}


def assert_conforms(settings: OrchestratorSettings) -> None:
    """Every traced transition replays on the spec machines, timings included."""
    from spec.conformance import check_trace
    from spec.trace import read_trace

    assert settings.trace is not None
    report = check_trace(read_trace(settings.trace), policies=settings.policies)
    assert report.divergence is None, report
