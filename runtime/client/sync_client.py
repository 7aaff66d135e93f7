"""`SyncClient`: `Client` for code without an event loop (scripts, notebooks, WSGI apps).

Each call runs the async client's coroutine to completion on the `SyncClient`'s own event loop
(an `asyncio.Runner` kept for its lifetime, so connections are reused). It cannot be used from
inside a running event loop: there, use `Client`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Coroutine, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx

from runtime.client.async_client import Client
from runtime.client.errors import ClientError
from runtime.graph_protocol import WorkflowGraphRequest, WorkflowTaskRequest
from runtime.protocol import (
    MAX_BATCH_WORKFLOWS,
    Event,
    TaskView,
    WorkflowCreated,
    WorkflowRequest,
    WorkflowView,
)
from spec.decisions.task_graph import FailurePolicy
from spec.policies import DEFAULT_POLICIES, BackoffPolicy

T = TypeVar("T")


async def _next(stream: AsyncGenerator[Event, None]) -> Event:
    return await anext(stream)


class SyncClient:
    """``with SyncClient(url, token) as client: client.submit("noop")``; the same calls as `Client`, blocking."""

    def __init__(
        self, url: str | Sequence[str], token: str | None = None, *, token_file: str | Path | None = None,
        timeout_s: float = 30.0,
        reconnect: BackoffPolicy = DEFAULT_POLICIES.backoff, transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise ClientError("SyncClient cannot run inside a running event loop; use `await` with runtime.Client")
        self._runner = asyncio.Runner()
        self._client = Client(url, token, token_file=token_file, timeout_s=timeout_s, reconnect=reconnect,
                              transport=transport)

    def __repr__(self) -> str:
        return "Sync" + repr(self._client)

    def __enter__(self) -> SyncClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._run(self._client.close())
        finally:
            self._runner.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self._runner.run(coroutine)

    def submit(
        self, workflow: WorkflowRequest | str, payload: Mapping[str, Any] | None = None, *,
        priority: int | None = None, required_capabilities: Sequence[str] = (),
    ) -> WorkflowCreated:
        return self._run(self._client.submit(workflow, payload, priority=priority,
                                             required_capabilities=required_capabilities))

    def submit_many(self, workflows: Iterable[WorkflowRequest], *, batch_size: int = MAX_BATCH_WORKFLOWS
                    ) -> list[WorkflowCreated]:
        return self._run(self._client.submit_many(workflows, batch_size=batch_size))

    def submit_dag(
        self, tasks: WorkflowGraphRequest | Sequence[WorkflowTaskRequest | Mapping[str, Any]], *,
        failure_policy: FailurePolicy | str = FailurePolicy.FAIL_FAST,
    ) -> WorkflowCreated:
        return self._run(self._client.submit_dag(tasks, failure_policy=failure_policy))

    def cancel(self, workflow_id: str) -> WorkflowView:
        return self._run(self._client.cancel(workflow_id))

    def get(self, workflow_id: str) -> WorkflowView:
        return self._run(self._client.get(workflow_id))

    def list_tasks(self, *, status: str | None = None, workflow_id: str | None = None, limit: int = 100,
                   offset: int = 0) -> list[TaskView]:
        return self._run(self._client.list_tasks(status=status, workflow_id=workflow_id, limit=limit, offset=offset))

    def wait(self, workflow_id: str, timeout_s: float = 60.0) -> WorkflowView:
        return self._run(self._client.wait(workflow_id, timeout_s))

    def result(self, workflow_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        return self._run(self._client.result(workflow_id, timeout_s))

    def results(self, workflow_id: str, timeout_s: float = 60.0) -> dict[str, dict[str, Any]]:
        return self._run(self._client.results(workflow_id, timeout_s))

    def events(self, workflow_id: str, *, after: int | None = None, until_settled: bool = True) -> Iterator[Event]:
        """`Client.events` as a blocking iterator; leaving the loop early closes the stream."""
        stream: AsyncGenerator[Event, None] = self._client.events(workflow_id, after=after, until_settled=until_settled)
        try:
            while True:
                try:
                    yield self._run(_next(stream))
                except StopAsyncIteration:
                    return
        finally:
            self._run(stream.aclose())
