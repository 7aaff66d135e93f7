"""The ``ai_coding`` task type on a real worker: registered with the decorator, run against a real orchestrator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from runtime.worker import Worker
from runtime.workflow import (
    DELIVERED_ISSUE,
    FAILING_BUILD_ISSUE,
    TASK_TYPE,
    CodingWorkflow,
    DemoRepository,
    ScriptedAIProvider,
    parse_patch,
    register_coding_workflow,
)
from spec.policies import DEFAULT_POLICIES, HeartbeatPolicy
from spec.trace import TraceEvent
from tests.runtime.e2e.harness import DEADLINE_S, HEARTBEAT_INTERVAL_S, HEARTBEAT_TIMEOUT_S, TOKEN, Orchestrator

#: The worker's heartbeat must match what the harness configures the orchestrator with.
POLICIES = DEFAULT_POLICIES.model_copy(update={
    "heartbeat": HeartbeatPolicy(interval_s=HEARTBEAT_INTERVAL_S, timeout_s=HEARTBEAT_TIMEOUT_S)})


def test_registration_uses_the_worker_decorator_and_refuses_a_second_handler(demo: DemoRepository,
                                                                             tmp_path: Path) -> None:
    worker = Worker("http://127.0.0.1:9", workspace_root=tmp_path / "ws")
    workflow = register_coding_workflow(worker, git=demo.platform(), ai=ScriptedAIProvider(),
                                        gates=demo.quality_gates())
    assert isinstance(workflow, CodingWorkflow)
    assert TASK_TYPE in worker.handlers
    assert workflow.services.policies is worker.policies
    with pytest.raises(ValueError, match="already has a handler"):
        register_coding_workflow(worker, git=demo.platform(), ai=ScriptedAIProvider(), gates=demo.quality_gates())


@pytest.fixture
def orchestrator(tmp_path: Path) -> Iterator[Orchestrator]:
    orch = Orchestrator(tmp_path)
    try:
        yield orch
    finally:
        orch.stop()


async def _watch(url: str, workflow_id: str, ready: asyncio.Event, until: str) -> list[dict[str, Any]]:
    ws_url = url.replace("http://", "ws://", 1) + "/ws"
    events: list[dict[str, Any]] = []
    async with websockets.connect(ws_url, additional_headers={"Authorization": f"Bearer {TOKEN}"}) as ws:
        await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id}))
        async with asyncio.timeout(DEADLINE_S):
            while True:
                message = json.loads(await ws.recv())
                if message.get("type") == "subscribed":
                    ready.set()
                    continue
                assert message.get("type") != "error", message
                events.append(message)
                if message["type"] == until:
                    return events


async def _wait_for_status(orchestrator: Orchestrator, task_id: str, status: str) -> dict[str, Any]:
    async with asyncio.timeout(DEADLINE_S):
        while True:
            task = await asyncio.to_thread(orchestrator.task, task_id)
            if task["status"] == status:
                return task
            await asyncio.sleep(0.1)


def test_a_real_worker_delivers_one_workflow_streams_its_code_and_fails_another_with_build_failed(
    orchestrator: Orchestrator, demo: DemoRepository, tmp_path: Path
) -> None:
    workspaces = tmp_path / "workspaces"
    trace: list[TraceEvent] = []
    delivered_wf, delivered_task = orchestrator.submit(TASK_TYPE, {"issueId": DELIVERED_ISSUE})
    broken_wf, broken_task = orchestrator.submit(TASK_TYPE, {"issueId": FAILING_BUILD_ISSUE})

    async def scenario() -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
        ready = asyncio.Event()
        watcher = asyncio.create_task(_watch(orchestrator.url, delivered_wf, ready, "WORKFLOW_COMPLETED"))
        async with asyncio.timeout(DEADLINE_S):
            await ready.wait()  # subscribed before the worker exists: no event can be missed
        worker = Worker(orchestrator.url, token=TOKEN, policies=POLICIES, workspace_root=workspaces)
        register_coding_workflow(worker, git=demo.platform(), ai=ScriptedAIProvider(chunk_size=48),
                                 gates=demo.quality_gates(), trace_sink=trace.append)
        running = asyncio.create_task(worker.run())
        try:
            events = await watcher
            completed = await _wait_for_status(orchestrator, delivered_task, "completed")
            failed = await _wait_for_status(orchestrator, broken_task, "failed")
        finally:
            worker.request_stop()
            async with asyncio.timeout(DEADLINE_S):
                await running
        return events, completed, failed

    events, completed, failed = asyncio.run(scenario())

    # The client saw every generated chunk as it streamed (coalesced chunks are joined, never
    # dropped), and progress that only rises; the outcome supersedes an update still held back by
    # ProgressPolicy.milestone_min_gap_s, so the task ends at 100.
    progress = [e["payload"] for e in events if e["type"] == "TASK_PROGRESS"]
    chunks = [p["details"]["chunk"] for p in progress if "chunk" in p.get("details", {})]
    assert parse_patch("".join(chunks)).files == ("calc.py", "tests/test_calc.py")
    percentages = [p["percentage"] for p in progress]
    assert percentages == sorted(percentages), percentages
    assert completed["progress"] == 100.0
    # The task's result names a branch that really is in the bare repository, with its pull request.
    result = completed["result"]
    assert demo.branch_commit(result["branch"]) == result["commit"]
    assert json.loads((demo.pulls_dir / "1.json").read_text())["commit"] == result["commit"]
    # The broken issue failed with the seed's BUILD_FAILED, and no branch was pushed for it.
    assert failed["error"]["code"] == "BUILD_FAILED"
    assert "calc.py" in failed["error"]["message"]
    assert demo.branch_commit(f"feature/issue-{FAILING_BUILD_ISSUE}") is None
    # Both pipelines reached a terminal state of the spec machine, and no workspace was left behind.
    finals = {e.component: e.dest for e in trace if e.machine == "coding_pipeline"}
    assert finals == {f"pipeline:{delivered_task}": "delivered", f"pipeline:{broken_task}": "failed"}
    assert [p for p in workspaces.iterdir() if p.is_dir()] == []
