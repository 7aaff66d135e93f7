from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from runtime.protocol import HeartbeatRequest, RegisterRequest, TaskCompleted, TaskError, TaskFailed, WorkflowRequest
from runtime.worker.client import OrchestratorClient
from runtime.worker.errors import (
    AuthenticationError,
    LeaseLostError,
    NotFoundError,
    OrchestratorError,
    OrchestratorUnavailableError,
    RateLimitedError,
    RequestRejectedError,
)
from spec.taxonomy import ErrorClass

pytestmark = pytest.mark.anyio

Handler = Callable[[httpx.Request], httpx.Response]


def _client(handler: Handler, token: str | None = "secret") -> OrchestratorClient:
    return OrchestratorClient("http://orch.test/", token=token, timeout_s=5, transport=httpx.MockTransport(handler))


async def test_register_sends_camel_case_json_with_the_bearer_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/register"):
            return httpx.Response(200, json={"workerId": "w-1", "heartbeatIntervalS": 0.2, "heartbeatTimeoutS": 0.6,
                                             "leaseTtlS": 5, "workerToken": "wt_own"})
        return httpx.Response(204)

    async with _client(handler) as client:
        response = await client.register(RegisterRequest(worker_id="w-1", capabilities=["python"]))
        client.use_worker_token(response.worker_token)
        await client.poll("w-1")
        await client.register(RegisterRequest(worker_id="w-1", capabilities=["python"]))
    assert response.heartbeat_interval_s == 0.2 and response.worker_token == "wt_own"
    # Polls carry the issued token; registering again uses the configured credential.
    assert [r.headers["Authorization"] for r in seen] == ["Bearer secret", "Bearer wt_own", "Bearer secret"]
    request = seen[0]
    assert request.method == "POST" and request.url.path == "/api/v1/workers/register"
    assert request.headers["Authorization"] == "Bearer secret"
    body = json.loads(request.content)
    assert body["workerId"] == "w-1" and body["maxConcurrency"] == 1 and "worker_id" not in body


async def test_poll_returns_nothing_on_204_and_passes_wait_and_max() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with _client(handler) as client:
        assert await client.poll("w-1", wait_s=2, max_tasks=4) == []
    params = seen[0].url.params
    assert params["workerId"] == "w-1" and params["wait"] == "2" and params["max"] == "4"


async def test_poll_parses_assignments() -> None:
    task = {"taskId": "t1", "workflowId": "wf", "type": "noop", "payload": {}, "priority": 5, "fencingToken": 2,
            "leaseExpiresAt": 1.0, "attempt": 1}

    async with _client(lambda r: httpx.Response(200, json={"tasks": [task]})) as client:
        tasks = await client.poll("w-1")
    assert tasks[0].task_id == "t1" and tasks[0].fencing_token == 2


async def test_reports_go_to_their_endpoint() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={"taskId": "t", "status": "x", "fencingToken": 1})

    lease = {"task_id": "t", "worker_id": "w", "fencing_token": 1}
    async with _client(handler) as client:
        await client.report(TaskCompleted(**lease, result={"a": 1}))
        await client.report(TaskFailed(**lease, error=TaskError(code="TIMEOUT")))
    assert paths == ["/api/v1/tasks/completed", "/api/v1/tasks/failed"]


@pytest.mark.parametrize(
    ("status", "error", "error_class"),
    [
        (401, AuthenticationError, ErrorClass.AUTHENTICATION),
        (403, AuthenticationError, ErrorClass.AUTHENTICATION),
        (404, NotFoundError, ErrorClass.VALIDATION),
        (409, LeaseLostError, ErrorClass.VALIDATION),
        (422, RequestRejectedError, ErrorClass.VALIDATION),
        (413, RequestRejectedError, ErrorClass.VALIDATION),
        (429, RateLimitedError, ErrorClass.RATE_LIMIT),
        (500, OrchestratorUnavailableError, ErrorClass.NETWORK),
        (503, OrchestratorUnavailableError, ErrorClass.NETWORK),
    ],
)
async def test_status_codes_map_to_the_error_hierarchy(status: int, error: type[OrchestratorError],
                                                       error_class: ErrorClass) -> None:
    body = {"error": {"field": "workerId", "reason": "something is wrong"}}
    async with _client(lambda r: httpx.Response(status, json=body)) as client:
        with pytest.raises(error) as caught:
            await client.heartbeat(HeartbeatRequest(worker_id="w"))
    exc = caught.value
    assert exc.status == status and exc.error_class is error_class
    assert exc.field == "workerId" and "something is wrong" in str(exc)
    assert "/api/v1/workers/heartbeat" in str(exc)


async def test_fastapi_validation_details_name_the_field() -> None:
    body = {"detail": [{"loc": ["body", "capabilities", 0], "msg": "invalid capability name"}]}
    async with _client(lambda r: httpx.Response(422, json=body)) as client:
        with pytest.raises(RequestRejectedError) as caught:
            await client.register(RegisterRequest(capabilities=["python"]))
    assert caught.value.field == "body.capabilities.0"


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), (None, None), ("soon", None)],
)
async def test_retry_after_is_read_from_429(header: str | None, expected: float | None) -> None:
    headers = {"Retry-After": header} if header else {}
    async with _client(lambda r: httpx.Response(429, headers=headers)) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.deregister("w")
    assert caught.value.retry_after_s == expected


async def test_retry_after_may_be_an_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    async with _client(lambda r: httpx.Response(429, headers={"Retry-After": when})) as client:
        with pytest.raises(RateLimitedError) as caught:
            await client.deregister("w")
    assert caught.value.retry_after_s is not None and 100 < caught.value.retry_after_s <= 120


async def test_an_unreachable_orchestrator_is_unavailable_and_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with _client(handler) as client:
        with pytest.raises(OrchestratorUnavailableError, match="unreachable") as caught:
            await client.poll("w")
    assert caught.value.retryable


async def test_a_malformed_success_body_is_reported_not_crashed_on() -> None:
    async with _client(lambda r: httpx.Response(200, json={"unexpected": True})) as client:
        with pytest.raises(OrchestratorUnavailableError, match="RegisterResponse"):
            await client.register(RegisterRequest(capabilities=["python"]))


async def test_no_token_means_no_authorization_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"workflowId": "wf", "taskIds": ["t"]})

    async with _client(handler, token=None) as client:
        created = await client.submit_workflow(WorkflowRequest(type="noop"))
    assert created.workflow_id == "wf" and "Authorization" not in seen[0].headers
