"""Saved state reaches the next worker (seed 4.4 ``saveTaskState``/``reportTaskInterrupted``).

A real orchestrator on 127.0.0.1 and a real `TaskRunner`: the first run is interrupted and
hands back its state; the re-leased assignment (and the task view) carry it as ``savedState``,
and the second handler sees it as ``ctx.saved_state``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from runtime.orchestrator import Orchestrator
from runtime.protocol import RegisterRequest, WorkflowRequest
from runtime.worker.client import OrchestratorClient
from runtime.worker.context import TaskContext
from runtime.worker.task_runner import TaskRunner
from runtime.worker.tracing import TraceRecorder
from runtime.worker.workspace import WorkspaceRoot
from tests.runtime.orchestrator.orch_helpers import TOKEN, make_settings

pytestmark = pytest.mark.anyio


async def test_state_saved_at_an_interrupt_is_handed_to_the_next_lease(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    started = asyncio.Event()

    async def resumable(ctx: TaskContext) -> dict[str, Any]:
        seen.append(dict(ctx.saved_state))
        if ctx.attempt == 1:
            ctx.save_state({"cursor": 17})
            started.set()
            await asyncio.sleep(300)
        return {"resumedFrom": ctx.saved_state.get("cursor")}

    async with Orchestrator(make_settings(tmp_path)) as orch, \
            OrchestratorClient(orch.url, token=TOKEN, timeout_s=30) as client:
        await client.register(RegisterRequest(worker_id="w-1", capabilities=["python"], max_concurrency=1))
        created = await client.submit_workflow(WorkflowRequest(type="resumable"))
        runner = TaskRunner(client=client, worker_id=lambda: "w-1", handlers={"resumable": resumable},
                            policies=orch.policies, workspaces=WorkspaceRoot(tmp_path / "ws"),
                            recorder=TraceRecorder(keep=True))

        (first,) = await client.poll("w-1", max_tasks=1)
        assert first.saved_state == {}
        execution = asyncio.create_task(runner.execute(first))
        await asyncio.wait_for(started.wait(), 30)
        assert runner.interrupt_all() == 1
        assert (await asyncio.wait_for(execution, 30)).state == "interrupted"

        view = await client.get_task(created.task_ids[0])
        assert view["status"] == "queued" and view["savedState"]["cursor"] == 17

        (second,) = await client.poll("w-1", max_tasks=1)
        assert second.task_id == first.task_id and second.attempt == 2
        assert second.saved_state["cursor"] == 17
        outcome = await asyncio.wait_for(runner.execute(second), 30)
        assert outcome.state == "completed"
    assert seen[0] == {} and seen[1]["cursor"] == 17
