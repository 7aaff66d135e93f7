"""A critical system error on a real worker (seed 4.5 flowchart G, issue 14): emergency shutdown, nothing lost.

The worker's handler finds the disk full (``OSError(ENOSPC)``) after saving its state. The worker
escalates at level 4 (through the orchestrator, to its level-4 webhook), hands the task back with its
saved state, deregisters and exits with its emergency exit code; a second worker resumes the task from
that state and completes it exactly once.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.worker.cli import EXIT_EMERGENCY
from spec.taxonomy import ErrorClass, category
from tests.runtime.e2e.harness import DEADLINE_S, Orchestrator, Worker, _env, wait_for
from tests.runtime.e2e.test_e2e_escalation import webhook  # noqa: F401 - the level-4 webhook fixture
from tests.runtime.e2e.test_e2e_worker_crash import _history

SCRIPT = Path(__file__).with_name("disk_full_worker.py")


@pytest.fixture
def orchestrator(tmp_path: Path, webhook: tuple[str, list[dict[str, Any]]]) -> Iterator[Orchestrator]:  # noqa: F811
    url, _ = webhook
    orch = Orchestrator(tmp_path, extra_config=f'\n[escalation.levels.4]\nwebhooks = ["{url}"]\n')
    try:
        yield orch
    finally:
        orch.stop()


def test_a_full_disk_shuts_the_worker_down_and_another_completes_its_task_once(
        orchestrator: Orchestrator, webhook: tuple[str, list[dict[str, Any]]]) -> None:  # noqa: F811
    _, received = webhook
    tmp = orchestrator.tmp
    worker_id = "e2e-full"
    with open(tmp / "full.err", "w", encoding="utf-8") as log:
        full = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--orchestrator", orchestrator.url, "--worker-id", worker_id,
             "--workspace-root", str(tmp / "full-workspaces"), "--capability", "e2e",
             "--trace", str(tmp / "full.jsonl"),
             "--policy", "poll.min_interval_s=0.05", "--policy", "poll.max_interval_s=0.25"],
            stdout=log, stderr=log, env={**_env(), "RUNTIME_TOKEN_FILE": str(orchestrator.worker_token_file)}, cwd=tmp)
        try:
            wait_for(lambda: orchestrator.worker(worker_id), "the worker to register")
            workflow_id, task_id = orchestrator.submit("sleep", {"seconds": 0.3, "steps": 3})
            code = full.wait(timeout=DEADLINE_S)
        finally:
            if full.poll() is None:
                full.kill()
                full.wait()
    err = (tmp / "full.err").read_text(encoding="utf-8")
    assert code == EXIT_EMERGENCY, err
    assert "emergency shutdown" in err and "disk exhausted" in err

    # Handed back, not failed: queued again with the state the handler saved; the worker deregistered.
    task = orchestrator.task(task_id)
    assert task["status"] == "queued" and task["attempt"] == 1, task
    assert orchestrator.saved_state(task_id)["stepsDone"] == 1
    assert orchestrator.worker(worker_id) is None or orchestrator.worker(worker_id)["status"] != "idle"
    # Escalated at the taxonomy's system-error level, before the worker went away.
    wait_for(lambda: received, "the level-4 webhook to be called")
    body = received[0]["body"]
    assert body["level"] == category(ErrorClass.SYSTEM).escalation_level
    assert body["details"]["resource"] == "disk" and body["details"]["taskId"] == task_id
    assert body["details"]["action"] == "emergency_shutdown" and "No space left on device" in body["reason"]

    rescuer = Worker(orchestrator, "rescuer")
    try:
        rescuer.wait_registered()
        wait_for(lambda: orchestrator.task(task_id)["status"] == "completed", "the rescuer to complete the task")
        done = orchestrator.task(task_id)
        assert done["leaseWorker"] == rescuer.worker_id and done["attempt"] == 2
        assert done["result"]["resumedAfter"] == 1  # resumed from the saved state
    finally:
        rescuer.stop()
    kinds = [e["type"] for e in asyncio.run(_history(orchestrator.url, workflow_id))]
    assert kinds.count("TASK_COMPLETED") == 1 and kinds.count("WORKFLOW_COMPLETED") == 1
    assert kinds.count("TASK_STARTED") == 2 and "TASK_FAILED" not in kinds
