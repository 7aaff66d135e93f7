"""Startup and graceful shutdown follow the spec machines, in the spec's order (issue 3 §1, §7)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from runtime.errors import PortInUseError, StartupFailedError
from runtime.orchestrator import Orchestrator
from runtime.orchestrator import startup as startup_module
from runtime.resilience.clock import FakeClock
from spec.machines import ORCHESTRATOR_SHUTDOWN, STARTUP
from spec.policies import BackoffPolicy, ShutdownPolicy, StartupPolicy
from spec.trace import read_trace
from tests.runtime.orchestrator.orch_helpers import (
    AUTH,
    assert_conforms,
    lease_body,
    make_settings,
    poll,
    register,
    submit,
    until,
)

pytestmark = pytest.mark.anyio


def machine_path(trace: Path, machine: str) -> list[str]:
    return [e.dest for e in read_trace(trace) if e.machine == machine]


async def test_startup_initialises_services_in_the_spec_order(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    async with Orchestrator(settings) as orch:
        assert orch.startup is not None and orch.startup.state == "running"
        async with httpx.AsyncClient(base_url=orch.url) as client:
            assert (await client.get("/health/live")).status_code == 200
            ready = await client.get("/health/ready")
            assert ready.status_code == 200 and all(ready.json()["checks"].values())
    services = [STARTUP.state(s).service for s in machine_path(settings.trace, "orchestrator_startup")]  # type: ignore[arg-type]
    assert [s for s in services if s] == [
        "config", "logger", "database", "taskQueue", "workerPool", "httpServer", "webSocketServer", "healthChecker",
    ]
    assert machine_path(settings.trace, "orchestrator_startup")[-1] == "running"  # type: ignore[arg-type]


async def test_missing_tokens_fail_the_config_phase(tmp_path: Path) -> None:
    settings = make_settings(tmp_path).model_copy(update={"tokens": ()})
    with pytest.raises(StartupFailedError, match="no bearer tokens"):
        await Orchestrator(settings).start()
    assert machine_path(settings.trace, "orchestrator_startup") == ["loading_config", "failed"]  # type: ignore[arg-type]


async def test_database_gets_the_policy_attempts_then_fails(tmp_path: Path) -> None:
    quick = StartupPolicy(database_backoff=BackoffPolicy(base_delay_s=0.01, max_retries=2))
    settings = make_settings(tmp_path, startup=quick).model_copy(update={"db": tmp_path})  # a directory
    with pytest.raises(StartupFailedError, match=f"{quick.database_attempts} attempts failed"):
        await Orchestrator(settings).start()
    triggers = [e.trigger for e in read_trace(settings.trace)]  # type: ignore[arg-type]
    assert triggers.count("database_attempt_failed") == quick.database_attempts - 1
    assert triggers[-1] == "database_failed"


async def test_port_in_use_fails_startup_naming_the_port(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        settings = make_settings(tmp_path).model_copy(update={"port": port})
        with pytest.raises(PortInUseError, match=f"port {port}"):
            await Orchestrator(settings).start()
    assert [e.trigger for e in read_trace(settings.trace)][-1] == "port_in_use"  # type: ignore[arg-type]


async def test_graceful_shutdown_waits_then_cancels_in_the_spec_order(tmp_path: Path) -> None:
    policy = ShutdownPolicy(drain_deadline_s=0.3, check_interval_s=0.05, cancel_grace_s=20.0, draining_retry_after_s=7)
    settings = make_settings(tmp_path, shutdown=policy)
    orch = Orchestrator(settings)
    await orch.start()
    async with httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as client:
        await register(client, "w1", ["python"])
        _, task_id = await submit(client)
        task = (await poll(client, "w1")).json()["tasks"][0]
        await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))

        stopping = asyncio.create_task(orch.stop())
        # The worker keeps heartbeating; after the drain deadline the answer asks it to cancel.
        for _ in range(600):
            beat = (await client.post("/api/v1/workers/heartbeat", json={"workerId": "w1"})).json()
            if beat["cancelTaskIds"]:
                break
            await asyncio.sleep(0.05)
        assert beat == {"status": "busy", "cancelTaskIds": [task_id], "shuttingDown": True}
        refused = await client.post("/api/v1/workflows", json={"type": "noop"})
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == str(policy.draining_retry_after_s)
        interrupted = await client.post("/api/v1/tasks/interrupted", json=lease_body(task, "w1", state={"at": 1}))
        assert interrupted.status_code == 200 and interrupted.json()["status"] == "queued"
        await asyncio.wait_for(stopping, 60)

    states = [s for s in machine_path(settings.trace, "orchestrator_shutdown") if s != "awaiting_tasks"]  # type: ignore[arg-type]
    assert states == [
        "pausing_queue", "draining_http", "refusing_websockets", "awaiting_workflows", "cancelling_tasks",
        "tasks_drained", "closing_websockets", "stopping_http", "stopping_queue", "closing_database", "stopped",
    ]
    for state in states:
        assert state in ORCHESTRATOR_SHUTDOWN.state_names
    assert_conforms(settings)


async def test_the_drain_deadline_and_the_grace_hold_to_the_second_on_virtual_time(tmp_path: Path) -> None:
    """Issue 11: the spec's own shutdown policy on a `FakeClock`: no cancellation one check before
    ``drain_deadline_s``, cancellation at it, and an uninterrupted task taken back when
    ``cancel_grace_s`` ends; the trace's stamps (the same clock) show both exactly."""
    policy = ShutdownPolicy()
    clock = FakeClock(start=5_000.0, auto_advance=False)
    settings = make_settings(tmp_path, shutdown=policy)
    orch = Orchestrator(settings, clock=clock)
    await orch.start()
    async with httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as client:
        await register(client, "w1", ["python"])
        _, task_id = await submit(client)
        task = (await poll(client, "w1")).json()["tasks"][0]
        await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))
        sleepers = clock.pending_sleepers  # the health monitor's

        stopping = asyncio.create_task(orch.stop())
        await until(lambda: clock.pending_sleepers == sleepers + 1, "the drain's first look")
        waited = 0.0
        while waited + policy.check_interval_s < policy.drain_deadline_s:  # bounded: deadline / interval looks
            await clock.advance(policy.check_interval_s)
            waited += policy.check_interval_s
            await until(lambda: clock.pending_sleepers == sleepers + 1, "the drain's next look")
            beat = (await client.post("/api/v1/workers/heartbeat", json={"workerId": "w1"})).json()
            assert beat["cancelTaskIds"] == [], f"cancelled after {waited:g} s of {policy.drain_deadline_s:g}"
        await clock.advance(policy.drain_deadline_s - waited)
        await until(lambda: clock.pending_sleepers == sleepers + 1, "the drain's look at the deadline")
        beat = (await client.post("/api/v1/workers/heartbeat", json={"workerId": "w1"})).json()
        assert beat["cancelTaskIds"] == [task_id]
        await clock.advance(policy.cancel_grace_s)  # the worker never interrupts: the task is taken back
        for _ in range(1_000):  # later stages sleep on real time; the monitor still wants its clock
            if stopping.done():
                break
            await clock.advance(policy.check_interval_s)
            await asyncio.sleep(0.01)
        await stopping

    events = [e for e in read_trace(settings.trace) if e.machine == "orchestrator_shutdown"]  # type: ignore[arg-type]
    first_look = next(e.time for e in events if e.trigger == "tasks_still_running")
    at = {e.trigger: e.time for e in events}
    assert at["drain_deadline_reached"] - first_look == pytest.approx(policy.drain_deadline_s)
    assert at["tasks_interrupted"] - at["drain_deadline_reached"] == pytest.approx(policy.cancel_grace_s)
    assert_conforms(settings)


async def test_a_phase_over_its_timeout_fails_startup(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, startup=StartupPolicy(database_timeout_s=1e-4))
    with pytest.raises(StartupFailedError, match="starting_database.*timeout"):
        await Orchestrator(settings).start()
    events = read_trace(settings.trace)  # type: ignore[arg-type]
    assert (events[-1].source, events[-1].trigger, events[-1].dest) == ("starting_database", "startup_timed_out",
                                                                        "failed")


async def test_services_share_one_budget_as_the_spec_core_decides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 11, item 4: each service used to get a whole ``services_timeout_s`` of its own.

    Two services that each take well under the budget, but together more, now fail startup in the
    second one (``spec.decisions.startup.StartupBudgets``, the simulator's rule too).
    """
    budget_s = 0.6
    real_queue, real_pool = startup_module._start_task_queue, startup_module._start_worker_pool

    async def slow_queue(orch: Orchestrator) -> None:
        await asyncio.sleep(budget_s * 0.6)
        await real_queue(orch)

    async def slow_pool(orch: Orchestrator) -> None:
        await asyncio.sleep(budget_s * 0.6)
        await real_pool(orch)

    monkeypatch.setattr(startup_module, "_start_task_queue", slow_queue)
    monkeypatch.setattr(startup_module, "_start_worker_pool", slow_pool)
    settings = make_settings(tmp_path, startup=StartupPolicy(services_timeout_s=budget_s))
    with pytest.raises(StartupFailedError, match="services_timeout_s"):
        await Orchestrator(settings).start()
    events = read_trace(settings.trace)  # type: ignore[arg-type]
    assert (events[-1].trigger, events[-1].dest) == ("startup_timed_out", "failed")
    assert events[-1].source in ("starting_worker_pool", "starting_task_queue")
