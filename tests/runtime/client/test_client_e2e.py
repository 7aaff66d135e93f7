"""End to end: ``python -m runtime orchestrator`` and a real ``python -m runtime worker``, driven by the client library.

Submits one and many workflows, waits for their results, and follows a workflow's events through
a proxy that cuts the connection twice mid-stream: the client resumes from its last event id and
yields exactly what the orchestrator stored, no duplicate and no gap.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime import Client, SyncClient
from runtime.protocol import Event, EventType, WorkflowRequest
from runtime.stream_protocol import EVENT_PAYLOADS, event_payload
from spec.policies import BackoffPolicy
from tests.runtime.client.tcp_proxy import CuttableProxy
from tests.runtime.e2e.harness import CLIENT_TOKEN, DEADLINE_S, Orchestrator, Worker

RECONNECT = BackoffPolicy(base_delay_s=0.05, factor=2.0, max_delay_s=0.5, max_retries=10)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def client_token_file(tmp_path: Path) -> Path:
    path = tmp_path / "client.token"
    path.write_text(CLIENT_TOKEN + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Orchestrator]:
    """An orchestrator process and one worker process leasing up to 4 tasks per poll."""
    orchestrator = Orchestrator(tmp_path)
    worker = Worker(orchestrator, "client-e2e", "--tasks-per-poll", "4")
    try:
        worker.wait_registered()
        yield orchestrator
    finally:
        worker.stop()
        orchestrator.stop()


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.mark.anyio
async def test_submit_wait_and_follow_events_across_disconnects(
    platform: Orchestrator, client_token_file: Path
) -> None:
    proxy = CuttableProxy(_port(platform.url))
    await proxy.start()
    try:
        async with Client(proxy.url, token_file=client_token_file, reconnect=RECONNECT) as client:
            slow = await client.submit("sleep", {"seconds": 2.0, "steps": 8})
            received: list[Event] = []

            async def follow() -> None:
                async for event in client.events(slow.workflow_id):
                    received.append(event)

            follower = asyncio.create_task(follow())
            bulk = await client.submit_many([WorkflowRequest(type="noop", payload={"n": i}) for i in range(40)],
                                            batch_size=15)
            assert len(bulk) == 40
            async with asyncio.timeout(DEADLINE_S):
                for cut in (1, 2):
                    while sum(e.type is EventType.TASK_PROGRESS for e in received) < 2 * cut:
                        await asyncio.sleep(0.05)
                    proxy.cut()
                await follower
            results = [await client.result(c.workflow_id, timeout_s=DEADLINE_S) for c in bulk]
            assert results == [{}] * 40
            slept = await client.result(slow.workflow_id, timeout_s=DEADLINE_S)
            assert slept == {"slept": 2.0, "steps": 8, "resumedAfter": 0}
        async with Client(platform.url, token_file=client_token_file) as fresh:
            truth = [e async for e in fresh.events(slow.workflow_id)]
    finally:
        await proxy.stop()
    assert proxy.cuts >= 2
    assert [e.id for e in received] == [e.id for e in truth] and received == truth
    assert received[0].type is EventType.TASK_STARTED and received[-1].type is EventType.WORKFLOW_COMPLETED
    assert sum(e.type is EventType.TASK_PROGRESS for e in received) >= 5
    for event in received:
        assert isinstance(event_payload(event), EVENT_PAYLOADS[event.type])


def test_sync_client_end_to_end(platform: Orchestrator, client_token_file: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNTIME_CLIENT_TOKEN_FILE", str(client_token_file))
    with SyncClient(platform.url) as client:
        one = client.submit("noop", {"hello": "world"})
        many = client.submit_many([WorkflowRequest(type="noop")] * 5)
        assert client.result(one.workflow_id, timeout_s=DEADLINE_S) == {}
        assert all(client.wait(c.workflow_id, timeout_s=DEADLINE_S).status == "completed" for c in many)
        kinds = [e.type for e in client.events(one.workflow_id)]
        assert kinds == [EventType.TASK_STARTED, EventType.TASK_COMPLETED, EventType.WORKFLOW_COMPLETED]
        assert len(client.list_tasks(status="completed")) == 6
