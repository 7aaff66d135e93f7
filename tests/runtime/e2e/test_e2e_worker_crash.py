"""A worker killed with SIGKILL mid-task: its task is re-queued after the heartbeat timeout and
another worker completes it exactly once (issue 3 tests, seed 4.2 "Worker Unhealthy")."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from typing import Any

import websockets

from spec.trace import read_trace
from tests.runtime.e2e.harness import (
    DEADLINE_S,
    HEARTBEAT_TIMEOUT_S,
    TOKEN,
    Orchestrator,
    Worker,
    wait_for,
)


async def _history(url: str, workflow_id: str) -> list[dict[str, Any]]:
    """Every retained event of `workflow_id`, replayed from the start, up to WORKFLOW_COMPLETED."""
    ws_url = url.replace("http://", "ws://", 1) + "/ws?token=" + TOKEN
    events: list[dict[str, Any]] = []
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id, "lastEventId": 0}))
        async with asyncio.timeout(DEADLINE_S):
            while not events or events[-1]["type"] != "WORKFLOW_COMPLETED":
                message = json.loads(await ws.recv())
                if message.get("type") != "subscribed":
                    events.append(message)
    return events


def test_a_killed_workers_task_is_requeued_and_completed_exactly_once_by_another(
    orchestrator: Orchestrator, start_worker: Callable[..., Worker]
) -> None:
    doomed = start_worker("doomed")
    doomed.wait_registered()
    workflow_id, task_id = orchestrator.submit("sleep", {"seconds": 3.0, "steps": 3})
    wait_for(lambda: orchestrator.task(task_id)["progress"] > 0, "the doomed worker to make progress")
    assert orchestrator.task(task_id)["leaseWorker"] == doomed.worker_id
    # The worker traces `progress` once the orchestrator acknowledged it: wait for that line too, or
    # a kill in between leaves `start` as its last (a race seen on a loaded machine, not a defect).
    wait_for(lambda: "progress" in [e.trigger for e in doomed.events() if e.component == f"task:{task_id}"],
             "the doomed worker to trace its progress")

    doomed.signal(signal.SIGKILL)
    doomed.wait()
    killed_at = time.monotonic()
    rescuer = start_worker("rescuer")
    rescuer.wait_registered()

    wait_for(lambda: orchestrator.task(task_id)["status"] == "completed", "the rescuer to complete the task")
    task = orchestrator.task(task_id)
    assert task["leaseWorker"] == rescuer.worker_id and task["attempt"] == 2
    assert time.monotonic() - killed_at < DEADLINE_S
    # Re-queued because the heartbeats stopped, and only once the heartbeat timeout had passed.
    missed = [e for e in read_trace(orchestrator.trace)
              if e.trigger == "heartbeats_missed" and doomed.worker_id in e.component]
    assert len(missed) == 1 and missed[0].data["silentFor"] >= HEARTBEAT_TIMEOUT_S

    silent = orchestrator.worker(doomed.worker_id)
    assert silent is not None and silent["status"] == "unhealthy"

    events = asyncio.run(_history(orchestrator.url, workflow_id))
    kinds = [e["type"] for e in events]
    assert kinds.count("TASK_COMPLETED") == 1 and kinds.count("WORKFLOW_COMPLETED") == 1
    assert kinds.count("TASK_STARTED") == 2 and "TASK_REQUEUED" in kinds
    assert kinds.index("TASK_REQUEUED") < kinds.index("TASK_COMPLETED")

    # The dead worker's trace stops mid-task; the rescuer's shows the whole task.
    assert [e.trigger for e in doomed.events() if e.component == f"task:{task_id}"][-1] == "progress"
    rescued = [e.trigger for e in rescuer.events() if e.component == f"task:{task_id}"]
    assert rescued[0] == "start" and rescued[-1] == "complete"


def test_a_stale_report_from_the_old_lease_is_refused(orchestrator: Orchestrator,
                                                     start_worker: Callable[..., Worker]) -> None:
    doomed = start_worker("stale")
    doomed.wait_registered()
    _, task_id = orchestrator.submit("sleep", {"seconds": 60, "steps": 60})
    wait_for(lambda: orchestrator.task(task_id)["status"] == "running", "the task to start")
    old_token = orchestrator.task(task_id)["fencingToken"]
    doomed.signal(signal.SIGKILL)
    doomed.wait()
    wait_for(lambda: orchestrator.task(task_id)["status"] == "queued", "the lease to be revoked")

    late = orchestrator.http.post("/api/v1/tasks/completed", json={
        "taskId": task_id, "workerId": doomed.worker_id, "fencingToken": old_token, "result": {"late": True}})
    assert late.status_code in (404, 409), late.text
    assert orchestrator.task(task_id)["status"] == "queued"
