"""End to end: ``python -m runtime orchestrator`` and a real worker process run DAG workflows (issue 12).

A diamond (a → b, c → d) runs in dependency order and d sees b's and c's results; a running
workflow is cancelled, and its running task is stopped on its worker through the heartbeat's
cancellation. The orchestrator's trace replays on the spec machines.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import SyncClient
from spec.conformance import check_trace
from spec.trace import read_trace
from tests.runtime.e2e.harness import CLIENT_TOKEN, DEADLINE_S, REPO, Orchestrator, _env, wait_for

WORKER = Path(__file__).with_name("dag_worker.py")


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Orchestrator]:
    orchestrator = Orchestrator(tmp_path)
    log = open(tmp_path / "dag-worker.err", "w", encoding="utf-8")  # noqa: SIM115 - closed below
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), orchestrator.url, str(orchestrator.worker_token_file), "e2e-dag",
         str(tmp_path / "workspaces")], stdout=log, stderr=log, env=_env(), cwd=REPO)
    try:
        wait_for(lambda: orchestrator.worker("e2e-dag") or worker.poll() is not None, "the DAG worker to register")
        assert worker.poll() is None, (tmp_path / "dag-worker.err").read_text()
        yield orchestrator
    finally:
        worker.kill()
        worker.wait()
        log.close()
        orchestrator.stop()


@pytest.fixture
def client(platform: Orchestrator) -> Iterator[SyncClient]:
    with SyncClient(platform.url, CLIENT_TOKEN) as client:
        yield client


def test_a_diamond_runs_in_order_and_the_join_sees_both_results(platform: Orchestrator, client: SyncClient) -> None:
    created = client.submit_dag([
        {"id": "a", "type": "join", "payload": {"name": "a"}},
        {"id": "b", "type": "join", "payload": {"name": "b"}, "dependsOn": ["a"]},
        {"id": "c", "type": "join", "payload": {"name": "c"}, "dependsOn": ["a"]},
        {"id": "d", "type": "join", "payload": {"name": "d"}, "dependsOn": ["b", "c"]},
    ])
    results = client.results(created.workflow_id, timeout_s=DEADLINE_S)
    a = {"name": "a", "inputs": {}}
    assert results["d"] == {"name": "d", "inputs": {"b": {"name": "b", "inputs": {"a": a}},
                                                    "c": {"name": "c", "inputs": {"a": a}}}}
    view = client.get(created.workflow_id)
    finished = {t.key: t.updated_at for t in view.tasks}
    assert view.status == "completed" and finished["a"] <= min(finished["b"], finished["c"]) <= finished["d"]
    platform.stop()
    assert check_trace(read_trace(platform.trace)).divergence is None


def test_cancelling_a_running_workflow_stops_its_task_on_the_worker(platform: Orchestrator, client: SyncClient
                                                                    ) -> None:
    created = client.submit_dag([
        {"id": "long", "type": "sleep", "payload": {"seconds": 120, "steps": 240}},
        {"id": "after", "type": "join", "payload": {"name": "after"}, "dependsOn": ["long"]},
    ])
    wait_for(lambda: client.get(created.workflow_id).tasks[0].progress > 0, "the long task to report progress")
    view = client.cancel(created.workflow_id)
    assert view.status == "cancelled"
    assert [(t.key, t.status) for t in view.tasks] == [("long", "running"), ("after", "cancelled")]
    wait_for(lambda: client.get(created.workflow_id).tasks[0].status == "cancelled",
             "the worker to stop the cancelled task", timeout=DEADLINE_S)
    assert client.cancel(created.workflow_id).status == "cancelled"  # idempotent
    worker = platform.worker("e2e-dag")
    assert worker is not None and worker["running"] == 0
    platform.stop()
    assert check_trace(read_trace(platform.trace)).divergence is None
