"""The Worker's control flow against a scripted orchestrator (httpx.MockTransport).

The real orchestrator is exercised in tests/runtime/e2e; these cover what it rarely does on
demand: refusing capabilities, forgetting a worker, cancelling a task, draining.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.worker.agent import Worker
from runtime.worker.builtin_tasks import sleep_task
from runtime.worker.errors import CapabilitiesRejectedError
from spec.policies import BackoffPolicy, HeartbeatPolicy, Policies, PollPolicy, ShutdownPolicy

pytestmark = pytest.mark.anyio

POLICIES = Policies(
    heartbeat=HeartbeatPolicy(interval_s=0.05, timeout_s=5),
    poll=PollPolicy(min_interval_s=0.01, max_interval_s=0.05),
    backoff=BackoffPolicy(base_delay_s=0.01, max_delay_s=0.05),
    shutdown=ShutdownPolicy(worker_task_deadline_s=5, cancel_grace_s=5),
)
DEADLINE_S = 30.0


class ScriptedOrchestrator:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.queue: list[dict[str, Any]] = []
        self.reject_capabilities = False
        self.forget_worker = False
        self.cancel: list[str] = []
        self.shutting_down = False
        self.registrations = 0
        self.bearers: list[str] = []
        self.refuse_tokens = False
        self.registration_bearers: list[str] = []

    def paths(self, suffix: str) -> list[dict[str, Any]]:
        return [body for method, path, body in self.calls if path.endswith(suffix)]

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        body = json.loads(request.content) if request.content else {}
        self.calls.append((request.method, path, body))
        if path.endswith("/register"):
            if self.reject_capabilities:
                return httpx.Response(422, json={"error": {"field": "capabilities", "reason": "unknown capability"}})
            self.registrations += 1
            self.forget_worker = self.refuse_tokens = False
            self.registration_bearers.append(request.headers.get("authorization", ""))
            return httpx.Response(200, json={"workerId": body["workerId"], "heartbeatIntervalS": 0.05,
                                             "heartbeatTimeoutS": 5, "leaseTtlS": 60,
                                             "workerToken": f"wt_issued_{self.registrations}"})
        # Everything after registration carries the token the registration issued.
        self.bearers.append(request.headers.get("authorization", ""))
        if self.refuse_tokens:  # e.g. the orchestrator lost its database: issued tokens are unknown
            return httpx.Response(401, json={"error": {"field": "Authorization", "reason": "invalid bearer token"}})
        if path.endswith("/heartbeat"):
            if self.forget_worker:
                return httpx.Response(404, json={"error": {"field": "workerId", "reason": "unknown worker"}})
            cancel, self.cancel = self.cancel, []
            return httpx.Response(200, json={"status": "ok", "cancelTaskIds": cancel,
                                             "shuttingDown": self.shutting_down})
        if path.endswith("/poll"):
            if self.forget_worker:
                return httpx.Response(404, json={"error": {"field": "workerId", "reason": "unknown worker"}})
            if not self.queue:
                return httpx.Response(204)
            return httpx.Response(200, json={"tasks": [self.queue.pop(0)]})
        if request.method == "DELETE":
            return httpx.Response(204)
        if path.endswith("/reports"):  # recorded as the single reports they stand for, then the lease
            outcomes = []
            for report in body["reports"]:
                self.calls.append(("POST", f"/api/v1/tasks/{report['kind']}", report))
                outcomes.append({"taskId": report["taskId"], "code": 200, "status": "ok", "fencingToken": 1})
            leased, self.queue = self.queue[:body.get("leaseMax", 0)], self.queue[body.get("leaseMax", 0):]
            return httpx.Response(200, json={"outcomes": outcomes, "tasks": leased})
        return httpx.Response(200, json={"taskId": body.get("taskId"), "status": "ok", "fencingToken": 1})


def _task(task_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"taskId": task_id, "workflowId": "wf", "type": "sleep", "payload": payload, "priority": 5,
            "fencingToken": 1, "leaseExpiresAt": time.time() + 60, "attempt": 1}


def _worker(tmp_path: Path, orch: ScriptedOrchestrator) -> Worker:
    worker = Worker("http://orch.test", capabilities=["python"], worker_id="w-test", policies=POLICIES,
                    workspace_root=tmp_path, keep_trace=True, transport=httpx.MockTransport(orch))
    worker.add_handler("sleep", sleep_task)
    return worker


async def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_rejected_capabilities_end_the_worker_in_the_rejected_state(tmp_path: Path) -> None:
    orch = ScriptedOrchestrator()
    orch.reject_capabilities = True
    worker = _worker(tmp_path, orch)
    with pytest.raises(CapabilitiesRejectedError, match="capabilities"):
        await worker.run()
    assert worker.state == "rejected"


async def test_the_orchestrators_heartbeat_interval_wins(tmp_path: Path) -> None:
    orch = ScriptedOrchestrator()
    worker = _worker(tmp_path, orch)
    worker.policies = POLICIES.model_copy(update={"heartbeat": HeartbeatPolicy(interval_s=30, timeout_s=60)})
    run = asyncio.create_task(worker.run())
    await _until(lambda: len(orch.paths("/heartbeat")) >= 2, "two heartbeats at the orchestrator's 0.05 s")
    assert worker.heartbeat_interval_s == 0.05
    worker.request_stop()
    await asyncio.wait_for(run, DEADLINE_S)


async def test_a_task_cancelled_by_the_orchestrator_is_reported_interrupted(tmp_path: Path) -> None:
    orch = ScriptedOrchestrator()
    orch.queue.append(_task("t-cancel", {"seconds": 60, "steps": 60}))
    worker = _worker(tmp_path, orch)
    run = asyncio.create_task(worker.run())
    await _until(lambda: orch.paths("/started"), "the task to start")
    orch.cancel.append("t-cancel")
    await _until(lambda: orch.paths("/interrupted"), "the interruption report")
    assert orch.paths("/interrupted")[0]["taskId"] == "t-cancel"
    await _until(lambda: worker.state == "idle", "the worker to be idle again")
    worker.request_stop()
    await asyncio.wait_for(run, DEADLINE_S)
    assert worker.shutdown.state == "stopped"


async def test_a_forgotten_worker_registers_again(tmp_path: Path) -> None:
    orch = ScriptedOrchestrator()
    worker = _worker(tmp_path, orch)
    run = asyncio.create_task(worker.run())
    await _until(lambda: orch.registrations == 1 and orch.paths("/poll"), "registration and a poll")
    orch.forget_worker = True
    await _until(lambda: orch.registrations == 2, "registration again")
    await _until(lambda: worker.state in ("idle", "polling"), "the new incarnation to poll")
    worker.request_stop()
    await asyncio.wait_for(run, DEADLINE_S)
    components = {e.component for e in worker.recorder.events if e.machine == "worker_lifecycle"}
    assert components == {"worker:w-test", "worker:w-test#2"}
    # Each incarnation works with the token its own registration issued, never the configured one.
    assert set(orch.bearers) == {"Bearer wt_issued_1", "Bearer wt_issued_2"}
    assert orch.bearers[-1] == "Bearer wt_issued_2"


async def test_a_refused_worker_token_re_reads_the_credential_and_registers_again(tmp_path: Path) -> None:
    orch = ScriptedOrchestrator()
    credentials = iter(["first-credential", "rotated-credential"])
    worker = Worker("http://orch.test", token_source=lambda: next(credentials), capabilities=["python"],
                    worker_id="w-test", policies=POLICIES, workspace_root=tmp_path,
                    transport=httpx.MockTransport(orch))
    run = asyncio.create_task(worker.run())
    await _until(lambda: orch.registrations == 1 and orch.paths("/poll"), "registration and a poll")
    orch.refuse_tokens = True
    await _until(lambda: orch.registrations == 2, "registration with the re-read credential")
    worker.request_stop()
    await asyncio.wait_for(run, DEADLINE_S)
    assert orch.registration_bearers == ["Bearer first-credential", "Bearer rotated-credential"]
    assert orch.bearers[-1] == "Bearer wt_issued_2"


async def test_a_draining_orchestrator_gets_no_polls(tmp_path: Path) -> None:
    orch = ScriptedOrchestrator()
    orch.shutting_down = True
    worker = _worker(tmp_path, orch)
    run = asyncio.create_task(worker.run())
    await _until(lambda: len(orch.paths("/heartbeat")) >= 3, "heartbeats")
    polls_while_draining = len(orch.paths("/poll"))
    await _until(lambda: len(orch.paths("/heartbeat")) >= 6, "more heartbeats")
    assert len(orch.paths("/poll")) == polls_while_draining
    orch.shutting_down = False
    await _until(lambda: len(orch.paths("/poll")) > polls_while_draining + 1, "polling to resume")
    worker.request_stop()
    await asyncio.wait_for(run, DEADLINE_S)


async def test_stop_during_registration_retries_exits_cleanly(tmp_path: Path) -> None:
    attempts = 0

    async def down(request: httpx.Request) -> httpx.Response:
        nonlocal attempts
        attempts += 1
        raise httpx.ConnectError("refused", request=request)

    worker = Worker("http://orch.test", capabilities=["python"], policies=POLICIES.model_copy(
        update={"backoff": BackoffPolicy(base_delay_s=5, max_delay_s=5, max_retries=10)}),
        workspace_root=tmp_path, transport=httpx.MockTransport(down))
    run = asyncio.create_task(worker.run())
    await _until(lambda: attempts >= 1, "the first registration attempt")  # now in its 5 s backoff
    worker.request_stop()
    await asyncio.wait_for(run, DEADLINE_S)
    assert worker.state == "registering"
