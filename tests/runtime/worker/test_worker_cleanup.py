"""Scheduled workspace cleanup (issue 14): a neighbour's dead workspaces are swept while this worker runs."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.worker.cleanup import clean_periodically, sweep_leftovers
from runtime.worker.client import OrchestratorClient
from runtime.worker.task_runner import TaskRunner
from runtime.worker.tracing import TraceRecorder
from runtime.worker.workspace import WorkspaceRoot
from spec.policies import DEFAULT_POLICIES

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[3]


def _neighbour_dies_leaving(root: Path, task_id: str) -> None:
    code = ("import sys; from runtime.worker.workspace import WorkspaceRoot; "
            f"w = WorkspaceRoot(sys.argv[1]).create({task_id!r}, workerId='neighbour', fencingToken=5); "
            "w.save_state({'stepsDone': 4})")
    subprocess.run([sys.executable, "-c", code, str(root)], check=True, cwd=ROOT)


def _runner(root: Path, reports: list[dict[str, Any]]) -> TaskRunner:
    def orchestrator(request: httpx.Request) -> httpx.Response:
        body: dict[str, Any] = json.loads(request.content)
        reports.append({"path": request.url.path, **body})
        return httpx.Response(200, json={"taskId": body["taskId"], "status": "queued", "fencingToken": 5})

    client = OrchestratorClient("http://orch.test", timeout_s=5, transport=httpx.MockTransport(orchestrator))
    return TaskRunner(client=client, worker_id=lambda: "me", handlers={}, policies=DEFAULT_POLICIES,
                      workspaces=WorkspaceRoot(root), recorder=TraceRecorder(keep=True))


async def test_a_sweep_hands_back_a_dead_neighbours_task_with_its_saved_state(tmp_path: Path) -> None:
    _neighbour_dies_leaving(tmp_path, "t-9")
    reports: list[dict[str, Any]] = []
    mine = WorkspaceRoot(tmp_path).create("my-running-task")
    assert await sweep_leftovers(WorkspaceRoot(tmp_path), _runner(tmp_path, reports), "me") == 1
    [report] = reports
    assert report["path"] == "/api/v1/tasks/interrupted" and report["taskId"] == "t-9"
    assert report["workerId"] == "neighbour" and report["fencingToken"] == 5
    assert report["state"]["stepsDone"] == 4 and report["state"]["recoveredBy"] == "me"
    assert mine.path.exists() and [p.name for p in tmp_path.iterdir()] == [mine.base.name]
    assert await sweep_leftovers(WorkspaceRoot(tmp_path), _runner(tmp_path, reports), "me") == 0


async def test_the_periodic_sweep_runs_on_its_interval_and_survives_a_failing_sweep(tmp_path: Path) -> None:
    reports: list[dict[str, Any]] = []
    root = WorkspaceRoot(tmp_path)
    runner = _runner(tmp_path, reports)
    calls = 0
    real = root.remove_leftovers

    def flaky() -> list[Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError(28, "No space left on device")
        return real()

    root.remove_leftovers = flaky  # type: ignore[method-assign]
    sweeping = asyncio.create_task(clean_periodically(root, runner, lambda: "me", interval_s=0.01))
    _neighbour_dies_leaving(tmp_path, "t-1")
    for _ in range(500):
        if reports:
            break
        await asyncio.sleep(0.01)
    sweeping.cancel()
    assert calls >= 2 and [r["taskId"] for r in reports] == ["t-1"]
