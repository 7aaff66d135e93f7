"""A lost reply to ``completed`` (issue 10, item 4): the orchestrator committed it, the answer never
arrived, the worker retried — the retry is acknowledged (200) and the task completes once.

A real orchestrator on 127.0.0.1 and a real `Worker`; the worker's transport forwards the first
report batch carrying ``completed`` (or ``failed``) and then drops the answer, as a SIGKILL between
commit and reply would.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.config import OrchestratorSettings
from runtime.orchestrator import Orchestrator
from runtime.worker import TaskContext, Worker
from spec.policies import BackoffPolicy
from spec.trace import read_trace
from tests.runtime.orchestrator.orch_helpers import AUTH, TOKEN, make_settings

pytestmark = pytest.mark.anyio
DEADLINE_S = 60.0


class LosingTransport(httpx.AsyncBaseTransport):
    """Forwards every request; the answer to the first report batch carrying a `kind` report is lost."""

    def __init__(self, kind: str) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._kind = f'"kind":"{kind}"'
        self.lost = 0
        self.sent: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        carries = request.url.path.endswith("/tasks/reports") and self._kind in request.content.decode()
        self.sent.append(request.url.path + (f" {self._kind}" if carries else ""))
        response = await self._inner.handle_async_request(request)
        if carries and not self.lost:
            await response.aread()
            self.lost += 1
            raise httpx.ReadError("connection reset before the answer arrived", request=request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
async def orch(tmp_path: Path) -> AsyncIterator[Orchestrator]:
    orchestrator = Orchestrator(make_settings(tmp_path / "orch"))
    await orchestrator.start()
    try:
        yield orchestrator
    finally:
        await orchestrator.stop()


async def _until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize(("task_type", "final"), [("echo", "completed"), ("broken", "failed")])
async def test_a_retried_outcome_after_a_lost_reply_is_acknowledged_once(
    orch: Orchestrator, tmp_path: Path, task_type: str, final: str
) -> None:
    settings: OrchestratorSettings = orch.settings
    quick_retry = BackoffPolicy(base_delay_s=0.05, max_delay_s=0.05)
    policies = settings.policies.model_copy(update={"backoff": quick_retry})
    transport = LosingTransport(final)
    worker = Worker(orch.url, token=TOKEN, capabilities=["python"], worker_id="w-lost", policies=policies,
                    workspace_root=tmp_path / "ws", keep_trace=True, transport=transport)

    async def echo(ctx: TaskContext) -> dict[str, Any]:
        return {"echo": ctx.payload}

    async def broken(ctx: TaskContext) -> dict[str, Any]:
        raise ValueError("this handler always fails")

    worker.add_handler("echo", echo)
    worker.add_handler("broken", broken)
    async with httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as http:
        created = await http.post("/api/v1/workflows", json={"type": task_type, "payload": {"n": 1}})
        assert created.status_code == 201, created.text
        task_id = created.json()["taskIds"][0]
        running = asyncio.create_task(worker.run())
        try:
            retried = f'/api/v1/tasks/reports "kind":"{final}"'
            await _until(lambda: transport.sent.count(retried) >= 2, "the retried outcome")
            await _until(lambda: any(e.component == f"task:{task_id}" and e.trigger in ("complete", "fail")
                                     for e in worker.recorder.events), "the worker to settle the task")
        finally:
            worker.request_stop()
            await asyncio.wait_for(running, DEADLINE_S)
        task = (await http.get(f"/api/v1/tasks/{task_id}")).json()
    assert transport.lost == 1
    assert task["status"] == final, task
    assert worker.completed_tasks == (1 if final == "completed" else 0)
    task_events = [e for e in worker.recorder.events if e.component == f"task:{task_id}"]
    assert [e.trigger for e in task_events][-1] in ("complete", "fail")
    assert not any(e.trigger == "lease_lost" for e in task_events)
    assert settings.trace is not None
    settled = [e for e in read_trace(settings.trace)
               if e.component == f"task:{task_id}" and e.trigger in ("complete", "fail", "fail_retryable")]
    assert len(settled) == 1, settled
