"""Supervised background services (issue 14): a crashed service restarts within its budget, then degrades."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from runtime.orchestrator import Orchestrator
from runtime.orchestrator.supervisor import Supervisor
from spec.policies import SupervisionPolicy
from spec.supervision import ServiceState
from tests.runtime.orchestrator.orch_helpers import make_settings

pytestmark = pytest.mark.anyio

QUICK = SupervisionPolicy(max_restarts=2, window_s=3600.0, restart_delay_s=0.0)


async def _until(condition: object, what: str) -> None:
    for _ in range(2000):  # bounded: 2000 loop turns of 5 ms
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"never saw {what}")


async def test_a_service_that_raises_is_restarted_and_keeps_running() -> None:
    supervisor = Supervisor(QUICK)
    runs = 0
    release = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs <= 2:
            raise RuntimeError(f"crash number {runs}")
        await release.wait()

    supervisor.start("flaky", flaky)
    await _until(lambda: runs == 3, "the third run")
    assert supervisor.states["flaky"] is ServiceState.RUNNING and supervisor.restarts["flaky"] == 2
    assert supervisor.describe()["flaky"]["lastError"] == "RuntimeError: crash number 2"
    assert supervisor.degraded == []
    release.set()
    await supervisor.tasks["flaky"]
    assert supervisor.states["flaky"] is ServiceState.STOPPED


async def test_a_service_that_keeps_crashing_exhausts_its_budget_and_degrades() -> None:
    supervisor = Supervisor(QUICK)
    runs = 0

    async def broken() -> None:
        nonlocal runs
        runs += 1
        raise ValueError("always")

    await supervisor.start("broken", broken)
    assert runs == QUICK.max_restarts + 1 and supervisor.degraded == ["broken"]
    assert supervisor.states["broken"] is ServiceState.EXHAUSTED


async def test_a_failed_health_check_before_a_restart_counts_as_a_crash() -> None:
    supervisor = Supervisor(QUICK)
    runs = 0
    checks = 0

    async def crash_once() -> None:
        nonlocal runs
        runs += 1
        raise RuntimeError("crash")

    async def unhealthy() -> bool:
        nonlocal checks
        checks += 1
        return False

    await supervisor.start("guarded", crash_once, unhealthy)
    assert runs == 1 and checks == QUICK.max_restarts and supervisor.degraded == ["guarded"]
    assert "health check of guarded failed" in supervisor.last_errors["guarded"]


async def test_the_orchestrator_supervises_its_background_services_and_reports_them(tmp_path: Path) -> None:
    async with Orchestrator(make_settings(tmp_path)) as orch, httpx.AsyncClient(base_url=orch.url) as client:
        ready = (await client.get("/health/ready")).json()
        assert ready["status"] == "ready"
        assert {name: s["state"] for name, s in ready["services"].items()} == {
            "alert-evaluation": "running", "consistency-check": "running", "database-recovery": "running",
            "event-retention": "running", "health-monitor": "running", "health-watch": "running"}
        assert orch.monitor_task is orch.supervisor.tasks["health-monitor"]
    assert all(s is ServiceState.STOPPED for s in orch.supervisor.states.values())
