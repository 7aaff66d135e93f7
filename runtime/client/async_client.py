"""`Client`: the orchestrator's HTTP and WebSocket API as typed async calls (``runtime.Client``).

Requests and answers are `runtime.protocol`'s models, so a request the orchestrator would refuse
is mostly refused here first (`RequestRefusedError` with ``status=None``), naming the field.
One `httpx.AsyncClient` per `Client` keeps connections alive; use it as ``async with``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from runtime.client.credentials import Credential
from runtime.client.errors import (
    ClientError,
    ConnectionFailedError,
    PartialBatchError,
    RequestRefusedError,
    WaitTimeoutError,
    WorkflowFailedError,
    error_for_response,
)
from runtime.client.event_stream import EventStream
from runtime.graph_protocol import WorkflowGraphRequest, WorkflowTaskRequest
from runtime.protocol import (
    MAX_BATCH_WORKFLOWS,
    MAX_BODY_BYTES,
    Event,
    TaskList,
    TaskView,
    WorkflowBatchCreated,
    WorkflowCreated,
    WorkflowRequest,
    WorkflowView,
)
from spec.decisions.failover import EndpointChoice
from spec.decisions.task_graph import FailurePolicy
from spec.machine import StateRole
from spec.machines import WORKFLOW_LIFECYCLE
from spec.policies import DEFAULT_POLICIES, BackoffPolicy

API = "/api/v1"
_M = TypeVar("_M", bound=BaseModel)
#: Workflow states nothing leaves: `wait` returns on these.
SETTLED = frozenset(s.name for s in WORKFLOW_LIFECYCLE.states if s.role is StateRole.TERMINAL)
#: `wait` polls every this many seconds at first, doubling up to `_POLL_MAX_S`.
_POLL_FIRST_S, _POLL_MAX_S = 0.02, 0.5
#: Bytes of ``{"workflows":[`` and ``]}`` around a batch's items.
_BATCH_FRAME = len(b'{"workflows":[]}')


def _refused_locally(exc: ValidationError) -> RequestRefusedError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    return RequestRefusedError(f"invalid {field or 'request'}: {first['msg']} (not sent)", status=None,
                               field=field or None, reason=first["msg"])


def _batches(encoded: list[bytes], max_items: int) -> Iterable[list[bytes]]:
    """Consecutive runs of `encoded` items within `max_items` and the body limit (`MAX_BODY_BYTES`)."""
    batch: list[bytes] = []
    size = _BATCH_FRAME  # the body's bytes with one comma per item (one more than it will have)
    for item in encoded:
        if batch and (len(batch) >= max_items or size + len(item) > MAX_BODY_BYTES):
            yield batch
            batch, size = [], _BATCH_FRAME
        batch.append(item)
        size += len(item) + 1
    if batch:
        yield batch


class Client:
    """An orchestrator client: ``async with Client("http://127.0.0.1:8080", token) as client: ...``.

    The token comes from `token`, else `token_file`, else ``$RUNTIME_CLIENT_TOKEN_FILE``, else
    ``$RUNTIME_CLIENT_TOKEN`` (`runtime.client.credentials`); it needs the client or admin role.
    `reconnect` paces the event stream's reconnections (`events`).
    """

    def __init__(
        self,
        url: str | Sequence[str],
        token: str | None = None,
        *,
        token_file: str | Path | None = None,
        timeout_s: float = 30.0,
        reconnect: BackoffPolicy = DEFAULT_POLICIES.backoff,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        urls = [url] if isinstance(url, str) else list(url)
        for each in urls:
            if not each.startswith(("http://", "https://")):
                raise ConnectionFailedError(f"orchestrator URL {each!r} must start with http:// or https://")
        try:
            #: Several URLs are replicas of one orchestrator (`spec.decisions.failover`).
            self.endpoints = EndpointChoice(urls)
        except ValueError as exc:
            raise ConnectionFailedError(f"orchestrator URLs: {exc}") from None
        self._credential = Credential(token, token_file)
        self._http = {each: httpx.AsyncClient(base_url=each, timeout=timeout_s, transport=transport)
                      for each in self.endpoints.urls}
        self._stream = EventStream(self.endpoints, self._credential, reconnect, timeout_s, sleep)
        self._clock = clock
        self._sleep = sleep

    @property
    def url(self) -> str:
        """The orchestrator URL in use (the replica that answered last)."""
        return self.endpoints.current

    def __repr__(self) -> str:
        return f"Client({self.url!r}, token from {self._credential.origin})"

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        for http in self._http.values():
            await http.aclose()

    # -- submitting ---------------------------------------------------------------------------

    async def submit(
        self, workflow: WorkflowRequest | str, payload: Mapping[str, Any] | None = None, *,
        priority: int | None = None, required_capabilities: Sequence[str] = (),
    ) -> WorkflowCreated:
        """Submit one workflow: a `WorkflowRequest`, or its task type plus payload and options."""
        request = self._request_of(workflow, payload, priority, required_capabilities)
        body = request.model_dump_json(by_alias=True, exclude_defaults=True).encode()
        return await self._call(WorkflowCreated, "POST", f"{API}/workflows", content=body)

    async def submit_many(
        self, workflows: Iterable[WorkflowRequest], *, batch_size: int = MAX_BATCH_WORKFLOWS
    ) -> list[WorkflowCreated]:
        """Submit workflows in bulk (``POST /api/v1/workflows:batch``): the created ids, in order.

        Each batch (at most `batch_size` workflows and `MAX_BODY_BYTES`) is stored all or nothing.
        If a later batch fails after earlier ones were stored, `PartialBatchError.created` lists those.
        """
        if not 1 <= batch_size <= MAX_BATCH_WORKFLOWS:
            raise RequestRefusedError(f"batch_size must be between 1 and {MAX_BATCH_WORKFLOWS} (not sent)",
                                      status=None, field="batch_size", reason="out of range")
        encoded = [w.model_dump_json(by_alias=True, exclude_defaults=True).encode() for w in workflows]
        created: list[WorkflowCreated] = []
        for batch in _batches(encoded, batch_size):
            body = b'{"workflows":[' + b",".join(batch) + b"]}"
            try:
                answer = await self._call(WorkflowBatchCreated, "POST", f"{API}/workflows:batch", content=body)
            except ClientError as exc:
                if not created:
                    raise
                raise PartialBatchError(f"{len(created)} workflow(s) were submitted before a batch failed: {exc}",
                                        created=list(created), cause=exc) from exc
            created += answer.workflows
        return created

    async def submit_dag(
        self, tasks: WorkflowGraphRequest | Sequence[WorkflowTaskRequest | Mapping[str, Any]], *,
        failure_policy: FailurePolicy | str = FailurePolicy.FAIL_FAST,
    ) -> WorkflowCreated:
        """Submit a workflow of several tasks run in dependency order; ``taskIds`` come in the order of `tasks`.

        Each task is a `WorkflowTaskRequest` or its fields (``{"id": "b", "type": "t", "dependsOn": ["a"]}``);
        `failure_policy` says what a failed task does to the rest (`FailurePolicy`). Duplicate ids,
        unknown ``dependsOn`` ids and cycles are refused by the orchestrator, naming the task's field.
        """
        if isinstance(tasks, WorkflowGraphRequest):
            request = tasks
        else:
            try:
                request = WorkflowGraphRequest.model_validate({
                    "tasks": [t if isinstance(t, WorkflowTaskRequest) else dict(t) for t in tasks],
                    "failure_policy": failure_policy})
            except ValidationError as exc:
                raise _refused_locally(exc) from None
        body = request.model_dump_json(by_alias=True, exclude_defaults=True).encode()
        return await self._call(WorkflowCreated, "POST", f"{API}/workflows", content=body)

    async def cancel(self, workflow_id: str) -> WorkflowView:
        """Cancel a pending or running workflow; its view after the cancel. Cancelling it again is harmless.

        Waiting tasks end cancelled at once, running ones once their workers have stopped them. A
        completed or failed workflow is refused (`RequestRefusedError`, status 409).
        """
        return await self._call(WorkflowView, "POST", f"{API}/workflows/{quote(workflow_id, safe='')}/cancel")

    # -- reading ------------------------------------------------------------------------------

    async def get(self, workflow_id: str) -> WorkflowView:
        """The workflow and its tasks as they are now."""
        return await self._call(WorkflowView, "GET", f"{API}/workflows/{quote(workflow_id, safe='')}")

    async def list_tasks(
        self, *, status: str | None = None, workflow_id: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[TaskView]:
        """Tasks in submission order, optionally of one `task_lifecycle` state or one workflow."""
        params: dict[str, str | int] = {"limit": limit, "offset": offset}
        if status is not None:
            params["status"] = status
        if workflow_id is not None:
            params["workflowId"] = workflow_id
        return (await self._call(TaskList, "GET", f"{API}/tasks", params=params)).tasks

    async def wait(self, workflow_id: str, timeout_s: float = 60.0) -> WorkflowView:
        """The workflow once it has settled (completed, failed or cancelled); `WaitTimeoutError` after `timeout_s`."""
        deadline = self._clock() + timeout_s
        interval = _POLL_FIRST_S
        while True:
            view = await self.get(workflow_id)
            if view.status in SETTLED:
                return view
            left = deadline - self._clock()
            if left <= 0:
                raise WaitTimeoutError(f"workflow {workflow_id} is still {view.status} after {timeout_s:g} s; "
                                       "wait longer or check its tasks (list_tasks(workflow_id=...))")
            await self._sleep(min(interval, left))
            interval = min(interval * 2, _POLL_MAX_S)

    async def result(self, workflow_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """A one-task workflow's result once completed (`results` for several tasks); `WorkflowFailedError`
        if it failed or was cancelled."""
        view = await self._completed(workflow_id, timeout_s)
        return dict(view.tasks[0].result or {}) if view.tasks else {}

    async def results(self, workflow_id: str, timeout_s: float = 60.0) -> dict[str, dict[str, Any]]:
        """Every task's result once the workflow completed, by task id in its submission (``key``; the
        stored task id for a one-task workflow); `WorkflowFailedError` if it failed or was cancelled."""
        view = await self._completed(workflow_id, timeout_s)
        return {t.key or t.task_id: dict(t.result or {}) for t in view.tasks}

    async def _completed(self, workflow_id: str, timeout_s: float) -> WorkflowView:
        view = await self.wait(workflow_id, timeout_s)
        if view.status == "completed":
            return view
        task = next((t for t in view.tasks if t.error), view.tasks[0] if view.tasks else None)
        error = (task.error if task is not None else None) or {}
        code, message = error.get("code"), str(error.get("message", ""))
        raise WorkflowFailedError(f"workflow {workflow_id} {view.status}: {code or 'no error code'}: {message}",
                                  workflow_id=workflow_id, code=code, error_message=message)

    def events(self, workflow_id: str, *, after: int | None = None, until_settled: bool = True
               ) -> AsyncGenerator[Event, None]:
        """The workflow's events over ``/ws``, stored ones first (after event id `after`), then live ones.

        A dropped connection is resumed from the last event yielded: nothing is yielded twice or
        skipped (within `WebSocketPolicy.replay_buffer`). Ends after the workflow settles unless
        `until_settled` is false.
        """
        return self._stream.events(workflow_id, after, until_settled)

    # -- plumbing -----------------------------------------------------------------------------

    @staticmethod
    def _request_of(workflow: WorkflowRequest | str, payload: Mapping[str, Any] | None, priority: int | None,
                    required_capabilities: Sequence[str]) -> WorkflowRequest:
        if isinstance(workflow, WorkflowRequest):
            return workflow
        fields: dict[str, Any] = {"type": workflow, "payload": dict(payload or {}),
                                  "required_capabilities": list(required_capabilities)}
        if priority is not None:
            fields["priority"] = priority
        try:
            return WorkflowRequest.model_validate(fields)
        except ValidationError as exc:
            raise _refused_locally(exc) from None

    async def _call(self, model: type[_M], method: str, path: str, *, content: bytes | None = None,
                    params: Mapping[str, str | int] | None = None) -> _M:
        response = await self._send(method, path, content, params)
        if response.status_code == 401 and self._credential.reread():  # a rotated token file
            response = await self._send(method, path, content, params)
        if not response.is_success:
            raise error_for_response(response, self._credential.origin)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise ClientError(f"{method} {self.url}{path} answered {response.status_code} with a body that is not a "
                              f"{model.__name__}: {exc.errors()[0]['msg']}; is {self.url} an orchestrator?") from None

    async def _send(self, method: str, path: str, content: bytes | None,
                    params: Mapping[str, str | int] | None) -> httpx.Response:
        headers = self._credential.header
        if content is not None:
            headers = {**headers, "Content-Type": "application/json"}
        problems: list[str] = []
        for replica in self.endpoints.attempts():
            try:
                response = await self._http[replica].request(method, path, content=content, params=params,
                                                             headers=headers)
            except httpx.TimeoutException as exc:
                problems.append(f"{replica}: timed out ({type(exc).__name__})")
                continue
            except httpx.TransportError as exc:
                problems.append(f"{replica}: {exc}")
                continue
            self.endpoints.answered(replica)
            return response
        if len(problems) == 1 and "timed out" in problems[0]:
            raise ConnectionFailedError(f"{method} {self.url}{path} timed out; the orchestrator is overloaded or "
                                        "unreachable") from None
        raise ConnectionFailedError(f"cannot reach the orchestrator ({'; '.join(problems)}); is "
                                    "`python -m runtime orchestrator` running there?") from None
