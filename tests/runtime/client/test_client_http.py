"""`runtime.Client` over HTTP against the orchestrator's ASGI app: submit, bulk, get, wait, result, errors, tokens."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

import runtime
from runtime.client import (
    Client,
    ClientError,
    ConnectionFailedError,
    CredentialError,
    NotFoundError,
    PartialBatchError,
    RequestRefusedError,
    WaitTimeoutError,
    WorkflowFailedError,
)
from runtime.client import errors as client_errors
from runtime.client.credentials import TOKEN_ENV, TOKEN_FILE_ENV
from runtime.orchestrator import Orchestrator
from runtime.protocol import WorkflowRequest
from tests.runtime.client import worker_steps
from tests.runtime.client.conftest import CLIENT_TOKEN, WORKER_TOKEN

pytestmark = pytest.mark.anyio


def asgi_client(orch: Orchestrator, token: str | None = CLIENT_TOKEN, **kwargs: Any) -> Client:
    assert orch.app is not None
    return Client("http://orchestrator.test", token, transport=httpx.ASGITransport(app=orch.app), **kwargs)


class CountingTransport(httpx.AsyncBaseTransport):
    """The ASGI transport, counting requests by path."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return await self.inner.handle_async_request(request)


def test_runtime_exports_the_clients() -> None:
    assert runtime.Client is Client and "Client" in runtime.__all__ and "SyncClient" in runtime.__all__
    assert issubclass(runtime.SyncClient, object)


async def test_submit_get_list_and_result(orch: Orchestrator, admin: httpx.AsyncClient) -> None:
    async with asgi_client(orch) as client:
        created = await client.submit("noop", {"n": 1}, priority=7, required_capabilities=["python"])
        view = await client.get(created.workflow_id)
        assert view.status == "pending" and view.priority == 7 and view.payload == {"n": 1}
        assert [t.task_id for t in view.tasks] == created.task_ids
        listed = await client.list_tasks(workflow_id=created.workflow_id)
        assert [t.task_id for t in listed] == created.task_ids and listed[0].lease_worker is None
        assert await client.list_tasks(status="completed") == []

        task = await worker_steps.lease_one(admin)
        await worker_steps.start(admin, task)
        waiting = asyncio.create_task(client.result(created.workflow_id, timeout_s=30))
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await worker_steps.complete(admin, task, {"answer": 42})
        assert await asyncio.wait_for(waiting, 30) == {"answer": 42}
        assert (await client.wait(created.workflow_id)).status == "completed"


async def test_result_of_a_failed_workflow_raises_with_its_error(orch: Orchestrator, admin: httpx.AsyncClient) -> None:
    async with asgi_client(orch) as client:
        created = await client.submit(WorkflowRequest(type="noop"))
        task = await worker_steps.lease_one(admin)
        await worker_steps.start(admin, task)
        await worker_steps.fail(admin, task, "BUILD_FAILED", "the build failed")
        with pytest.raises(WorkflowFailedError) as info:
            await client.result(created.workflow_id, timeout_s=10)
    assert info.value.code == "BUILD_FAILED" and info.value.error_message == "the build failed"
    assert created.workflow_id in str(info.value)


async def test_wait_is_bounded(orch: Orchestrator) -> None:
    async with asgi_client(orch) as client:
        created = await client.submit("noop")
        with pytest.raises(WaitTimeoutError, match="still pending after 0.2 s"):
            await client.wait(created.workflow_id, timeout_s=0.2)


async def test_submit_many_splits_into_batches_in_order(orch: Orchestrator) -> None:
    assert orch.app is not None
    transport = CountingTransport(orch.app)
    async with Client("http://orchestrator.test", CLIENT_TOKEN, transport=transport) as client:
        requests = [WorkflowRequest(type="noop", payload={"n": i}) for i in range(7)]
        created = await client.submit_many(requests, batch_size=3)
        assert transport.paths == ["/api/v1/workflows:batch"] * 3
        payloads = [(await client.get(c.workflow_id)).payload for c in created]
        assert payloads == [{"n": i} for i in range(7)]
        assert await client.submit_many([]) == []
        with pytest.raises(RequestRefusedError, match="batch_size"):
            await client.submit_many(requests, batch_size=0)


async def test_a_refused_later_batch_reports_what_was_stored(orch: Orchestrator) -> None:
    async with asgi_client(orch) as client:
        bad = WorkflowRequest.model_construct(type="bad type!", payload={}, priority=5, required_capabilities=[])
        requests = [WorkflowRequest(type="noop")] * 2 + [bad]
        with pytest.raises(PartialBatchError) as info:
            await client.submit_many(requests, batch_size=2)
        assert len(info.value.created) == 2
        cause = info.value.cause
        assert isinstance(cause, RequestRefusedError) and cause.status == 422 and cause.field == "workflows.0.type"
        with pytest.raises(RequestRefusedError) as whole:  # the first batch refused: nothing stored, plain error
            await client.submit_many([bad, *requests[:2]])
        assert whole.value.field == "workflows.0.type"
        assert len(await client.list_tasks()) == 2


async def test_errors_name_the_field_and_reason(orch: Orchestrator) -> None:
    async with asgi_client(orch) as client:
        with pytest.raises(RequestRefusedError) as local:
            await client.submit("noop", priority=11)
        assert local.value.status is None and local.value.field == "priority" and "not sent" in str(local.value)
        bad = WorkflowRequest.model_construct(type="noop", payload={}, priority=99, required_capabilities=[])
        with pytest.raises(RequestRefusedError) as remote:
            await client.submit(bad)
        assert remote.value.status == 422 and remote.value.field == "priority"
        assert "less than or equal to 10" in remote.value.reason
        with pytest.raises(NotFoundError) as missing:
            await client.get("wf-nope")
        assert missing.value.status == 404 and "wf-nope" in str(missing.value)


@pytest.mark.parametrize(("token", "status"), [("not-a-token", "401"), (WORKER_TOKEN, "403")])
async def test_refused_credentials_are_named_without_the_token(orch: Orchestrator, token: str, status: str) -> None:
    async with asgi_client(orch, token) as client:
        with pytest.raises(CredentialError) as info:
            await client.submit("noop")
        message = str(info.value)
        assert status in message and "token argument" in message and token not in message
        assert token not in repr(client) and "token argument" in repr(client)


async def test_connection_refused_names_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with Client(f"http://127.0.0.1:{port}", "t", timeout_s=5) as client:
        with pytest.raises(ConnectionFailedError, match=f"http://127.0.0.1:{port}"):
            await client.get("wf-1")
    with pytest.raises(ConnectionFailedError, match="http://"):
        Client("127.0.0.1:8080", "t")


async def test_token_from_file_or_environment_and_reread_after_401(
    orch: Orchestrator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_file = tmp_path / "client.token"
    token_file.write_text("# rotated by ops\nstale-token\n", encoding="utf-8")
    monkeypatch.setenv(TOKEN_FILE_ENV, str(token_file))
    async with asgi_client(orch, None) as client:
        assert "stale-token" not in repr(client) and str(token_file) in repr(client)
        with pytest.raises(CredentialError, match=TOKEN_FILE_ENV):
            await client.submit("noop")
        token_file.write_text(CLIENT_TOKEN + "\n", encoding="utf-8")  # rotated: re-read after the 401
        assert (await client.submit("noop")).workflow_id.startswith("wf-")
    monkeypatch.delenv(TOKEN_FILE_ENV)
    monkeypatch.setenv(TOKEN_ENV, CLIENT_TOKEN)
    async with asgi_client(orch, None) as client:
        assert len(await client.list_tasks()) == 1
    monkeypatch.delenv(TOKEN_ENV)
    with pytest.raises(CredentialError, match="no token"):
        asgi_client(orch, None)
    with pytest.raises(CredentialError, match=str(tmp_path / "absent")):
        asgi_client(orch, None, token_file=tmp_path / "absent")
    with pytest.raises(CredentialError, match="whitespace"):
        asgi_client(orch, "two words")


def test_every_error_is_a_client_error() -> None:
    for name in dir(client_errors):
        value = getattr(client_errors, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, ClientError), name


async def test_the_client_fails_over_to_the_replica_that_answers() -> None:
    """Several URLs are replicas of one orchestrator (issue 16): an unreachable one is skipped, and
    the client stays with the one that answered (`spec.decisions.failover`)."""
    seen: list[str] = []

    def cluster(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.host)
        if request.url.host == "down.test":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(201, json={"workflowId": "wf-1", "taskIds": ["t-1"]})

    async with Client(["http://down.test", "http://up.test"], "token",
                      transport=httpx.MockTransport(cluster)) as client:
        await client.submit("noop")
        await client.submit("noop")
        assert seen == ["down.test", "up.test", "up.test"] and client.url == "http://up.test"

    def all_down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(ConnectionFailedError, match="down.test.*up.test"):
        async with Client(["http://down.test", "http://up.test"], "token",
                          transport=httpx.MockTransport(all_down)) as client:
            await client.submit("noop")
