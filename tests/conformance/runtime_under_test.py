"""The reference runtime in-process, on the scaled clock, with the faults of issue 6 §2.

A real `runtime.orchestrator.Orchestrator` (FastAPI on uvicorn bound to 127.0.0.1, SQLite in a
temporary directory) and real `runtime.worker.Worker` objects share the test's event loop and
talk HTTP. Faults are applied the way they happen in production, only in-process:

* worker SIGKILL: the worker's coroutine is cancelled — no report, no DELETE, workspace left;
* worker SIGTERM: ``Worker.request_stop()``, the same call the signal handler makes;
* heartbeat loss: the worker's HTTP transport drops ``POST /workers/heartbeat`` (connect error);
* a lost answer: the request reaches the orchestrator, the answer never reaches the worker (read
  timeout), as when a loaded orchestrator answers after the client's timeout;
* orchestrator restart: uvicorn is force-exited and the database closed without recording a clean
  stop, then a new `Orchestrator` opens the same database and port and runs its recovery;
* provider errors and 429s: task handlers call a fake AI provider through
  `runtime.resilience.ExternalService` (breaker, retry, rate limit) on the scaled policies.

Each component writes its own trace: the orchestrator (across restarts, appended) and every
worker to ``.jsonl`` files, the resilience layer to `resilience_events`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from runtime.config import OrchestratorSettings
from runtime.orchestrator import Orchestrator
from runtime.resilience import ExternalService
from runtime.store.locations import PostgresLocation
from runtime.worker import TaskContext, Worker
from spec.machine import StateRole
from spec.machines import TASK_LIFECYCLE
from spec.policies import Policies
from spec.trace import TraceEvent, read_trace
from tests.conformance.schedules import TaskSpec

TOKEN = "conformance-token"
TASK_TYPE = "conformance"
#: Generous real-time bound for anything that should happen "soon" on a loaded machine.
DEADLINE_S = 45.0
#: How often a wait for the tasks to settle asks whether a trace already diverges.
GIVE_UP_CHECK_S = 0.5
TERMINAL_TASK_STATES = frozenset(s.name for s in TASK_LIFECYCLE.states if s.role is StateRole.TERMINAL)
_REQUEST = httpx.Request("POST", "http://ai-provider.test/v1/complete")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def until(condition: Any, what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not await _value(condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)


async def _value(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) else value


class FaultyTransport(httpx.AsyncBaseTransport):
    """Real HTTP, except that heartbeats can be dropped and one answer can be lost after delivery."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.drop_heartbeats = False
        #: Path suffix whose next answer is lost after the orchestrator handled the request.
        self.lose_answer_once: str | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.drop_heartbeats and request.url.path.endswith("/workers/heartbeat"):
            raise httpx.ConnectError("heartbeat dropped by the conformance test", request=request)
        if self.lose_answer_once is not None and request.url.path.endswith(self.lose_answer_once):
            self.lose_answer_once = None
            response = await self.inner.handle_async_request(request)
            await response.aread()
            await response.aclose()
            raise httpx.ReadTimeout("answer lost by the conformance test (request was handled)", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class FakeProvider:
    """An AI provider that answers the scripted outcomes first, then ``ok``."""

    def __init__(self, outcomes: Iterable[str]) -> None:
        self.script = deque(outcomes)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        outcome = self.script.popleft() if self.script else "ok"
        if outcome == "ok":
            return "ok"
        if outcome == "refused":
            raise ConnectionRefusedError("the AI provider refused the connection")
        status = 503 if outcome == "503" else 429
        headers = {"Retry-After": "0"} if outcome == "429-retry-after-0" else {}
        response = httpx.Response(status, headers=headers, request=_REQUEST)
        raise httpx.HTTPStatusError(f"AI provider answered {status}", request=_REQUEST, response=response)


@dataclass
class RunningWorker:
    worker: Worker
    task: asyncio.Task[None]
    transport: FaultyTransport
    trace: Path
    alive: bool = True


@dataclass
class RuntimeUnderTest:
    root: Path
    policies: Policies
    provider_outcomes: tuple[str, ...] = ()
    port: int = field(default_factory=free_port)
    orch: Orchestrator | None = None
    workers: dict[str, RunningWorker] = field(default_factory=dict)
    resilience_events: list[TraceEvent] = field(default_factory=list)
    task_ids: list[str] = field(default_factory=list)
    #: What the test did, in order: printed with a failing example.
    actions: list[str] = field(default_factory=list)
    #: The store: a PostgreSQL database (issue 16), or None for a SQLite file under `root`.
    db: PostgresLocation | None = None

    def __post_init__(self) -> None:
        self.provider = FakeProvider(self.provider_outcomes)
        self.orchestrator_trace = self.root / "orchestrator.jsonl"

    # -- orchestrator -----------------------------------------------------------------------

    def settings(self) -> OrchestratorSettings:
        return OrchestratorSettings(db=self.db or self.root / "orchestrator.db", host="127.0.0.1", port=self.port,
                                    tokens=(TOKEN,), trace=self.orchestrator_trace, log_level="ERROR",
                                    policies=self.policies)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start_orchestrator(self) -> None:
        orch = Orchestrator(self.settings())
        await orch.start()
        self.orch = orch
        self.actions.append("orchestrator started")

    async def crash_orchestrator(self) -> None:
        """Stop serving at once, recording nothing: the next start finds an unclean stop."""
        orch = self.orch
        assert orch is not None
        self.orch = None
        if orch.monitor_task is not None:
            orch.monitor_task.cancel()
            with contextlib.suppress(BaseException):
                await orch.monitor_task
        if orch.server is not None and orch.server_task is not None:
            orch.server.should_exit = True
            orch.server.force_exit = True
            with contextlib.suppress(BaseException):
                await orch.server_task
        await orch.db.close()
        orch.trace.close()
        self.actions.append("orchestrator crashed")

    async def restart_orchestrator(self) -> None:
        await self.crash_orchestrator()
        await self.start_orchestrator()

    async def stop_orchestrator(self) -> None:
        if self.orch is not None:
            await self.orch.stop()
            self.orch = None
            self.actions.append("orchestrator SIGTERM (graceful stop)")

    # -- workers ----------------------------------------------------------------------------

    async def start_worker(self, name: str, capabilities: Iterable[str]) -> None:
        transport = FaultyTransport()
        trace = self.root / f"{name}.jsonl"
        worker = Worker(self.url, token=TOKEN, capabilities=["python", *capabilities], worker_id=name,
                        policies=self.policies, workspace_root=self.root / f"{name}-workspaces", trace_path=trace,
                        transport=transport)
        service = ExternalService("ai_provider", policies=self.policies, trace_sink=self.resilience_events.append)
        provider = self.provider

        async def handle(ctx: TaskContext) -> dict[str, Any]:
            steps = int(ctx.payload["steps"])
            for done in range(1, steps + 1):
                await asyncio.sleep(float(ctx.payload["stepS"]))
                await ctx.progress(100.0 * done / steps, f"step {done}/{steps}", milestone=True)
            return {"provider": await service.call(provider)}

        worker.add_handler(TASK_TYPE, handle)
        running = RunningWorker(worker, asyncio.create_task(worker.run(), name=f"worker-{name}"), transport, trace)
        self.workers[name] = running
        await until(lambda: running.task.done() or worker.state not in ("offline", "registering"),
                    f"worker {name} to register")
        if running.task.done():
            running.task.result()
        self.actions.append(f"worker {name} started with capabilities {sorted(worker.capabilities)}")

    async def kill_worker(self, name: str) -> None:
        running = self.workers[name]
        if not running.alive:
            return
        running.alive = False
        running.task.cancel()
        with contextlib.suppress(BaseException):
            await running.task
        self.actions.append(f"worker {name} SIGKILL")

    async def sigterm_worker(self, name: str) -> None:
        running = self.workers[name]
        if not running.alive:
            return
        running.alive = False
        running.worker.request_stop()
        await asyncio.wait_for(running.task, DEADLINE_S)
        self.actions.append(f"worker {name} SIGTERM")

    async def lose_heartbeats(self, name: str, seconds: float) -> None:
        running = self.workers[name]
        if not running.alive:
            return
        running.transport.drop_heartbeats = True
        self.actions.append(f"worker {name}: heartbeats dropped for {seconds:g} s")
        await asyncio.sleep(seconds)
        running.transport.drop_heartbeats = False

    # -- workload ---------------------------------------------------------------------------

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)

    async def submit(self, spec: TaskSpec, step_s: float) -> str:
        async with self.http() as http:
            response = await http.post("/api/v1/workflows", json={
                "type": TASK_TYPE, "priority": spec.priority, "requiredCapabilities": list(spec.requires),
                "payload": {"steps": spec.steps, "stepS": step_s}})
        assert response.status_code == 201, response.text
        task_id: str = response.json()["taskIds"][0]
        self.task_ids.append(task_id)
        return task_id

    async def task_views(self) -> list[dict[str, Any]]:
        async with self.http() as http:
            response = await http.get("/api/v1/tasks", params={"limit": 1000})
        assert response.status_code == 200, response.text
        views: list[dict[str, Any]] = response.json()["tasks"]
        return views

    async def wait_settled(
        self, timeout: float = DEADLINE_S, give_up: Callable[[], str | None] | None = None
    ) -> list[dict[str, Any]]:
        """Every submitted task in a terminal state; raises naming the stragglers after `timeout`.

        `give_up` is asked about once per ``GIVE_UP_CHECK_S``: a reason it returns (a trace that
        already diverges) ends the wait at once, so failing examples shrink in seconds, not minutes.
        """
        deadline = time.monotonic() + timeout
        next_check = time.monotonic() + GIVE_UP_CHECK_S
        while True:
            views = await self.task_views()
            open_tasks = [v for v in views if v["status"] not in TERMINAL_TASK_STATES]
            if not open_tasks:
                return views
            detail = ", ".join(f"{v['taskId']} {v['status']} (lease {v['leaseWorker']})" for v in open_tasks)
            if give_up is not None and time.monotonic() > next_check:
                next_check = time.monotonic() + GIVE_UP_CHECK_S
                reason = give_up()
                if reason:
                    raise AssertionError(f"stopped waiting for {detail}: {reason}")
            if time.monotonic() > deadline:
                raise AssertionError(f"tasks not settled after {timeout:g} s: {detail}")
            await asyncio.sleep(0.05)

    async def close(self, *, hard: bool = False) -> None:
        """Stop whatever still runs: workers gracefully, then the orchestrator.

        `hard` (after a failure) kills instead: a run that already failed is not worth the
        drain deadline of a graceful shutdown, and failing examples must be quick to shrink.
        """
        for name, running in self.workers.items():
            if running.alive:
                with contextlib.suppress(Exception):
                    await (self.kill_worker(name) if hard else self.sigterm_worker(name))
        with contextlib.suppress(Exception):
            await (self.crash_orchestrator() if hard and self.orch is not None else self.stop_orchestrator())
        for running in self.workers.values():
            if not running.task.done():
                running.task.cancel()
                with contextlib.suppress(BaseException):
                    await running.task

    # -- traces -----------------------------------------------------------------------------

    def orchestrator_events(self) -> list[TraceEvent]:
        return read_trace(self.orchestrator_trace) if self.orchestrator_trace.exists() else []

    def worker_events(self) -> dict[str, list[TraceEvent]]:
        return {name: read_trace(r.trace) if r.trace.exists() else [] for name, r in self.workers.items()}
