"""After its own crash the orchestrator sweeps again with a fresh heartbeat timeout for every
worker (`spec.decisions.liveness.HEARTBEAT_GRACE`, `LivenessRules.detection_due`): a worker that
went silent while it was down is detected one window after the restart's grace, never at once
from the heartbeat it sent before the crash — the rule the simulator's check now holds too.
The restarted orchestrator runs on a `FakeClock`."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from runtime.orchestrator import Orchestrator
from runtime.resilience.clock import FakeClock
from spec.conformance import check_trace
from spec.machines.startup import StartupTrigger
from spec.machines.worker_lifecycle import WorkerTrigger
from spec.policies import HeartbeatPolicy
from spec.trace import read_trace
from tests.runtime.orchestrator.orch_helpers import AUTH, make_settings, register, until

pytestmark = pytest.mark.anyio


async def test_a_worker_silent_since_before_a_crash_gets_the_restarts_grace(tmp_path: Path) -> None:
    heartbeat = HeartbeatPolicy()
    settings = make_settings(tmp_path, heartbeat=heartbeat)
    async with Orchestrator(settings) as orch, httpx.AsyncClient(base_url=orch.url, headers=AUTH) as http:
        await register(http, "w1", ["python"])
    # The process "crashed": its run never recorded a stop, and w1 was last heard from long ago.
    with sqlite3.connect(settings.db) as db:  # type: ignore[arg-type]
        db.execute("UPDATE orchestrator_runs SET stopped_at = NULL")
        db.execute("UPDATE workers SET last_heartbeat = 0 WHERE id = 'w1'")
    # The restarted orchestrator runs on virtual time, so the window is checked without slack.
    clock = FakeClock(start=0.0, wall_start=datetime.now(UTC), auto_advance=False)
    async with Orchestrator(settings, clock=clock) as orch, httpx.AsyncClient(base_url=orch.url, headers=AUTH) as http:
        assert orch.recovered_from_crash
        await until(lambda: clock.pending_sleepers == 1, "the health monitor to wait for its first sweep")

        async def status() -> str:
            return str((await http.get("/api/v1/workers")).json()["workers"][0]["status"])

        swept = 0.0
        while swept + heartbeat.sweep_interval_s < heartbeat.timeout_s:  # bounded: timeout / interval sweeps
            await clock.advance(heartbeat.sweep_interval_s)
            swept += heartbeat.sweep_interval_s
            await until(lambda: clock.pending_sleepers == 1, "the sweep to finish")
            assert await status() == "idle", f"swept out after {swept:g} s: the grace was not granted"
        for _ in range(2):  # the rest of the detection window: timeout_s, then one sweep interval more
            await clock.advance(heartbeat.sweep_interval_s)
            await until(lambda: clock.pending_sleepers == 1, "the sweep to finish")
        assert await status() == "unhealthy", "the restarted orchestrator never swept w1 out of rotation"
    events = read_trace(settings.trace)  # type: ignore[arg-type]
    grace = [e.time for e in events if e.trigger == StartupTrigger.WORKER_POOL_READY][-1]
    detected = next(e.time for e in events if e.trigger == WorkerTrigger.HEARTBEATS_MISSED)
    low, high = heartbeat.detection_window_s()
    assert low <= detected - grace <= high, "detected from the heartbeat before the crash, or late"
    assert any(e.machine == "orchestrator_recovery" and e.trigger == "workflows_resumed" for e in events)
    report = check_trace(events, policies=settings.policies)
    assert report.divergence is None, report
