"""A task that fails once with a retryable error and then succeeds, on real processes (issue 12).

``python -m runtime orchestrator`` and ``python -m runtime worker`` with a configured shell
command that fails on its first run: the failure is classified ``unknown`` (retried with
backoff), the task is re-queued and completes on attempt 2, and a WebSocket client sees which
attempt each event belongs to. A task of a type the worker has no handler for waits, visibly.
"""

from __future__ import annotations

import asyncio
import json
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from runtime.protocol import Event
from runtime.stream_protocol import event_payload
from spec.conformance import check_trace
from spec.policies import DEFAULT_POLICIES, BackoffPolicy, HeartbeatPolicy
from spec.trace import read_trace
from tests.runtime.e2e.harness import (
    DEADLINE_S,
    HEARTBEAT_INTERVAL_S,
    HEARTBEAT_TIMEOUT_S,
    TOKEN,
    Orchestrator,
    Worker,
    wait_for,
)

#: A short backoff, so the retry comes within a second, not the seed's.
BACKOFF = BackoffPolicy(base_delay_s=0.2, max_delay_s=1.0)
CONFIG = f"[policies.backoff]\nbase_delay_s = {BACKOFF.base_delay_s}\nmax_delay_s = {BACKOFF.max_delay_s}\n"


async def _watch(url: str, workflow_id: str, until: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    async with websockets.connect(url.replace("http://", "ws://", 1) + "/ws",
                                  additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id}))
        async with asyncio.timeout(DEADLINE_S):
            while True:
                message = json.loads(await ws.recv())
                if message.get("type") == "subscribed":
                    continue
                assert message.get("type") != "error", message
                events.append(message)
                if message["type"] == until:
                    return events


@pytest.fixture
def orchestrator(tmp_path: Path) -> Iterator[Orchestrator]:
    """The conftest's orchestrator, with the short backoff."""
    orch = Orchestrator(tmp_path, extra_config=CONFIG)
    try:
        yield orch
    finally:
        orch.stop()


def test_a_task_failing_once_completes_on_attempt_two_and_the_websocket_shows_each_attempt(
    tmp_path: Path, orchestrator: Orchestrator, start_worker: Callable[..., Worker]
) -> None:
    marker = tmp_path / "failed-once"
    flaky = f"if [ -e {marker} ]; then echo second; else touch {marker}; echo first >&2; exit 75; fi"
    worker = start_worker("flaky", "--shell-command", f"flaky=sh -c {shlex.quote(flaky)}")
    worker.wait_registered()
    assert orchestrator.worker(worker.worker_id)["taskTypes"] == ["noop", "shell", "sleep"]  # type: ignore[index]

    response = orchestrator.http.post("/api/v1/workflows", json={
        "type": "shell", "payload": {"command": "flaky"}, "retry": {"maxAttempts": 2}})
    assert response.status_code == 201, response.text
    workflow_id, task_id = response.json()["workflowId"], response.json()["taskIds"][0]
    # Nothing handles this type: it waits in the queue (it is not failed) and says why.
    unhandled = orchestrator.submit("transcode")[1]

    messages = asyncio.run(_watch(orchestrator.url, workflow_id, "WORKFLOW_COMPLETED"))
    events = [Event.model_validate(m) for m in messages]
    for event in events:
        event_payload(event)  # each fits the AsyncAPI document's schema
    attempts = [(e.type.value, e.payload.get("attempt")) for e in events if e.type.value != "TASK_PROGRESS"]
    assert attempts == [("TASK_STARTED", 1), ("TASK_REQUEUED", 1), ("TASK_STARTED", 2), ("TASK_COMPLETED", 2),
                        ("WORKFLOW_COMPLETED", None)], attempts
    requeued = next(e for e in events if e.type.value == "TASK_REQUEUED")
    assert requeued.payload["error"]["errorClass"] == "unknown" and "exited with 75" in requeued.payload["error"][
        "message"]
    assert requeued.payload["notBefore"] - requeued.time <= BACKOFF.max_delay_s
    restarted = [e for e in events if e.type.value == "TASK_STARTED"][1]
    assert restarted.time >= requeued.payload["notBefore"]  # leased only once its backoff was over

    task = orchestrator.task(task_id)
    assert (task["status"], task["attempt"], task["result"]["stdout"].strip()) == ("completed", 2, "second")
    waiting = orchestrator.task(unhandled)
    assert (waiting["status"], waiting["waitingFor"]) == ("queued", "no live worker handles type 'transcode'")

    wait_for(lambda: "complete" in [e.trigger for e in worker.events() if e.component == f"task:{task_id}"],
             "the worker to record the completion")
    on_worker = [e.trigger for e in worker.events() if e.component == f"task:{task_id}" and e.trigger != "progress"]
    assert on_worker == ["start", "retry", "assign", "start", "complete"], on_worker
    worker_report = check_trace(worker.events(), require_initial=False)  # the worker's view starts at a lease
    assert worker_report.ok, worker_report.format()
    orchestrator.stop()
    policies = DEFAULT_POLICIES.model_copy(update={"backoff": BACKOFF, "heartbeat": HeartbeatPolicy(
        interval_s=HEARTBEAT_INTERVAL_S, timeout_s=HEARTBEAT_TIMEOUT_S)})
    trace = read_trace(orchestrator.trace)
    report = check_trace(trace, policies=policies)
    assert report.divergence is None, report
    on_orchestrator = [e.trigger for e in trace if e.component == f"task:{task_id}" and e.trigger != "progress"]
    assert on_orchestrator == ["assign", "start", "retry", "assign", "start", "complete"], on_orchestrator
