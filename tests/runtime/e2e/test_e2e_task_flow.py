"""register → poll → started → progress → completed, watched by a real WebSocket client (issue 3 tests)."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from typing import Any

import websockets

from spec.conformance import check_trace
from tests.runtime.e2e.harness import DEADLINE_S, TOKEN, Orchestrator, Worker, wait_for


async def _watch(url: str, workflow_id: str, until: str) -> list[dict[str, Any]]:
    """Subscribe to `workflow_id` over /ws and collect events until one of type `until`."""
    ws_url = url.replace("http://", "ws://", 1) + "/ws"
    events: list[dict[str, Any]] = []
    async with websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id}))
        async with asyncio.timeout(DEADLINE_S):
            while True:
                message = json.loads(await ws.recv())
                if message.get("type") in ("subscribed",):
                    continue
                assert message.get("type") != "error", message
                events.append(message)
                if message["type"] == until:
                    return events


def test_a_task_flows_from_poll_to_completion_and_clients_see_every_step(
    orchestrator: Orchestrator, start_worker: Callable[..., Worker]
) -> None:
    worker = start_worker("solo", "--policy", "progress.interval_s=600")  # only the milestones
    worker.wait_registered()
    wait_for(lambda: "no_task_available" in worker.triggers("worker_lifecycle"), "an empty poll (204)")

    workflow_id, task_id = orchestrator.submit("sleep", {"seconds": 1.0, "steps": 2})
    events = asyncio.run(_watch(orchestrator.url, workflow_id, "WORKFLOW_COMPLETED"))

    kinds = [e["type"] for e in events]
    assert kinds == ["TASK_STARTED", "TASK_PROGRESS", "TASK_PROGRESS", "TASK_COMPLETED", "WORKFLOW_COMPLETED"], kinds
    ids = [e["id"] for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    progress = [e["payload"] for e in events if e["type"] == "TASK_PROGRESS"]
    assert [p["percentage"] for p in progress] == [50.0, 100.0]
    assert [p["step"] for p in progress] == ["step 1/2", "step 2/2"]
    assert all(e["taskId"] == task_id for e in events[:4])

    task = orchestrator.task(task_id)
    assert task["status"] == "completed" and task["result"] == {"slept": 1.0, "steps": 2, "resumedAfter": 0}
    assert task["leaseWorker"] == worker.worker_id

    wait_for(lambda: "task_finished" in worker.triggers("worker_lifecycle"), "the worker to free its slot")
    lifecycle = worker.triggers("worker_lifecycle")
    assert lifecycle[:2] == ["register", "capabilities_accepted"]
    assert {"poll", "no_task_available", "task_received", "task_finished", "heartbeat"} <= set(lifecycle)
    task_triggers = [e.trigger for e in worker.events() if e.component == f"task:{task_id}"]
    assert task_triggers == ["start", "progress", "progress", "complete"]
    # The worker's view of a task starts at its lease ("assigned"), hence require_initial=False.
    report = check_trace(worker.events(), require_initial=False)
    assert report.ok, report.format()


def test_a_time_limit_fails_the_task_with_timeout_within_twice_the_limit(
    orchestrator: Orchestrator, start_worker: Callable[..., Worker]
) -> None:
    limit_s = 2.0
    worker = start_worker("timer")
    worker.wait_registered()
    workflow_id, task_id = orchestrator.submit("sleep", {"seconds": 120, "steps": 4, "maxDurationS": limit_s})
    events = asyncio.run(_watch(orchestrator.url, workflow_id, "TASK_FAILED"))
    started = next(e for e in events if e["type"] == "TASK_STARTED")
    failed = events[-1]
    error = failed["payload"]["error"]
    assert error["code"] == "TIMEOUT" and "timeout" in error["message"]
    assert failed["time"] - started["time"] < 2 * limit_s
    assert orchestrator.task(task_id)["status"] == "failed"
    assert [e.trigger for e in worker.events() if e.component == f"task:{task_id}"][-1] == "time_out"


def test_a_command_over_its_memory_limit_fails_as_resource_exhausted(
    orchestrator: Orchestrator, start_worker: Callable[..., Worker]
) -> None:
    worker = start_worker(
        "hog", "--shell-command", "hog=python3 -c 'bytearray(2 * 1024 ** 3)'",
        "--shell-command", "hello=echo hello", "--policy", f"resources.memory_bytes={512 * 1024 ** 2}",
    )
    worker.wait_registered()
    _, hog = orchestrator.submit("shell", {"command": "hog"})
    _, hello = orchestrator.submit("shell", {"command": "hello"})
    wait_for(lambda: orchestrator.task(hog)["status"] == "failed", "the memory hog to fail")
    assert orchestrator.task(hog)["error"]["code"] == "RESOURCE_EXHAUSTED"
    wait_for(lambda: orchestrator.task(hello)["status"] == "completed", "the echo to complete")
    assert orchestrator.task(hello)["result"]["stdout"].strip() == "hello"
    assert list(worker.workspace_root.iterdir()) == [], "workspaces must be removed after each task"


def test_sigterm_lets_the_current_task_finish_then_deregisters(
    orchestrator: Orchestrator, start_worker: Callable[..., Worker]
) -> None:
    worker = start_worker("graceful", "--policy", "shutdown.worker_task_deadline_s=30")
    worker.wait_registered()
    _, task_id = orchestrator.submit("sleep", {"seconds": 2.0, "steps": 4})
    wait_for(lambda: orchestrator.task(task_id)["status"] == "running", "the task to start")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0, worker.stderr()

    task = orchestrator.task(task_id)
    assert task["status"] == "completed" and task["leaseWorker"] == worker.worker_id
    assert worker.triggers("worker_shutdown") == [
        "stop", "task_in_progress", "task_finished", "deregistered", "cleaned", "services_stopped",
    ]
    assert worker.triggers("worker_lifecycle")[-1] == "deregister"
    registered = orchestrator.worker(worker.worker_id)
    assert registered is not None and registered["status"] == "deregistered"
    assert list(worker.workspace_root.iterdir()) == []


def test_sigterm_past_the_deadline_interrupts_the_task_with_its_state_and_another_worker_finishes_it(
    orchestrator: Orchestrator, start_worker: Callable[..., Worker]
) -> None:
    first = start_worker("interrupted", "--policy", "shutdown.worker_task_deadline_s=0.5")
    first.wait_registered()
    workflow_id, task_id = orchestrator.submit("sleep", {"seconds": 60, "steps": 60})
    wait_for(lambda: orchestrator.task(task_id)["progress"] > 0, "the first progress report")
    began = time.monotonic()
    first.signal(signal.SIGTERM)
    assert first.wait() == 0, first.stderr()
    assert time.monotonic() - began < DEADLINE_S

    assert first.triggers("worker_shutdown") == [
        "stop", "task_in_progress", "task_deadline_reached", "task_interrupted", "deregistered", "cleaned",
        "services_stopped",
    ]
    assert [e.trigger for e in first.events() if e.component == f"task:{task_id}"][-1] == "interrupt"
    requeued = orchestrator.task(task_id)
    assert requeued["status"] == "queued" and requeued["fencingToken"] > 1
    state = orchestrator.saved_state(task_id)
    assert state is not None and state["stepsDone"] >= 1 and state["progress"]["percentage"] > 0

    report = check_trace(first.events(), require_initial=False)
    assert report.ok, report.format()
    assert report.final_states[f"worker-shutdown:{first.worker_id}"] == "stopped"

    second = start_worker("finisher")
    wait_for(lambda: orchestrator.task(task_id)["status"] == "running", "the second worker to start the task")
    assert orchestrator.task(task_id)["leaseWorker"] == second.worker_id


def test_a_second_signal_forces_exit_and_the_next_start_recovers(
    orchestrator: Orchestrator, start_worker: Callable[..., Worker]
) -> None:
    worker = start_worker("forced", "--policy", "shutdown.worker_task_deadline_s=120")
    worker.wait_registered()
    _, task_id = orchestrator.submit("sleep", {"seconds": 120, "steps": 120})
    wait_for(lambda: orchestrator.task(task_id)["progress"] >= 2, "the task to finish two steps")
    worker.signal(signal.SIGTERM)
    wait_for(lambda: "task_in_progress" in worker.triggers("worker_shutdown"), "the graceful shutdown to begin")
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 4, worker.stderr()
    assert worker.triggers("worker_shutdown")[-1] == "force_stop"
    leftovers = list(worker.workspace_root.iterdir())
    assert len(leftovers) == 1, "a forced stop leaves its workspace for recovery"

    again = start_worker("forced-again", workspace_root=worker.workspace_root)
    wait_for(lambda: "interrupted_tasks_resumed" in again.triggers("worker_recovery"), "recovery to finish")
    assert again.triggers("worker_recovery") == [
        "restart", "workspaces_restored", "registered", "interrupted_tasks_resumed",
    ]
    # Removed; the same path may already hold the new worker's workspace for the re-run task.
    try:
        owner = json.loads((leftovers[0] / "meta.json").read_text())["workerId"]
    except FileNotFoundError:
        owner = None
    assert owner in (None, again.worker_id)
    # The leftover's task was handed back (or had already been re-queued): the new worker runs it,
    # from the state the dead process's handler saved in its workspace (issue 14, recovery in place).
    wait_for(lambda: orchestrator.task(task_id)["leaseWorker"] == again.worker_id, "the task to be re-run")
    task = orchestrator.task(task_id)
    assert task["attempt"] >= 2
    # Never lost: handed back by the restarted worker's recovery ("worker process died"), or, when the
    # orchestrator had re-queued the silent worker's task first, the state its last progress report carried.
    assert task["savedState"]["stepsDone"] >= 2, task
    assert task["savedState"].get("reason") in (None, "worker process died"), task


def test_a_wrong_token_stops_the_worker_with_a_message_naming_the_token(
    orchestrator: Orchestrator, start_worker: Callable[..., Worker]
) -> None:
    worker = start_worker("intruder", "--token", "not-the-token")
    assert worker.wait() == 1
    assert "--token" in worker.stderr() and "401" in worker.stderr()
    assert orchestrator.worker(worker.worker_id) is None
