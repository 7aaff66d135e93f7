"""After its own crash the orchestrator sweeps again with a fresh heartbeat timeout for every
worker (`spec.decisions.liveness.HEARTBEAT_GRACE`, `LivenessRules.detection_due`): a worker that
went silent while it was down is detected one window after the restart's grace, never at once
from the heartbeat it sent before the crash — the rule the simulator's check now holds too."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from runtime.orchestrator import Orchestrator
from spec.conformance import check_trace
from spec.machines.startup import StartupTrigger
from spec.machines.worker_lifecycle import WorkerTrigger
from spec.trace import read_trace
from tests.runtime.orchestrator.orch_helpers import AUTH, FAST_HEARTBEAT, make_settings, register

pytestmark = pytest.mark.anyio

#: Scheduling slack for the upper end of the detection window on a loaded 2-core machine (the
#: lower end, which the grace is about, needs none: a busy machine only detects later).
SLACK_S = 0.5


async def test_a_worker_silent_since_before_a_crash_gets_the_restarts_grace(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, heartbeat=FAST_HEARTBEAT)
    async with Orchestrator(settings) as orch, httpx.AsyncClient(base_url=orch.url, headers=AUTH) as http:
        await register(http, "w1", ["python"])
    # The process "crashed": its run never recorded a stop, and w1 was last heard from long ago.
    with sqlite3.connect(settings.db) as db:  # type: ignore[arg-type]
        db.execute("UPDATE orchestrator_runs SET stopped_at = NULL")
        db.execute("UPDATE workers SET last_heartbeat = 0 WHERE id = 'w1'")
    async with Orchestrator(settings) as orch, httpx.AsyncClient(base_url=orch.url, headers=AUTH) as http:
        assert orch.recovered_from_crash
        listed = (await http.get("/api/v1/workers")).json()["workers"]
        assert [w["status"] for w in listed if w["workerId"] == "w1"] == ["idle"], listed
        deadline = time.monotonic() + 30
        while (await http.get("/api/v1/workers")).json()["workers"][0]["status"] != "unhealthy":
            assert time.monotonic() < deadline, "the restarted orchestrator never swept w1 out of rotation"
            await asyncio.sleep(0.05)
    events = read_trace(settings.trace)  # type: ignore[arg-type]
    grace = [e.time for e in events if e.trigger == StartupTrigger.WORKER_POOL_READY][-1]
    detected = next(e.time for e in events if e.trigger == WorkerTrigger.HEARTBEATS_MISSED)
    assert detected - grace >= FAST_HEARTBEAT.timeout_s, "detected from the heartbeat before the crash"
    assert any(e.machine == "orchestrator_recovery" and e.trigger == "workflows_resumed" for e in events)
    report = check_trace(events, policies=settings.policies, tolerance_s=SLACK_S)
    assert report.divergence is None, report
