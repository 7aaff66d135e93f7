"""`Client.events` over a real ``/ws``: typed events, resume after forced disconnects (no duplicates, no gaps)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import httpx
import pytest

from runtime.client import Client, CredentialError, StreamError
from runtime.orchestrator import Orchestrator
from runtime.protocol import Event, EventType
from runtime.stream_protocol import EVENT_PAYLOADS, TaskProgressPayload, event_payload
from spec.policies import BackoffPolicy
from spec.trace import read_trace
from tests.runtime.client import worker_steps
from tests.runtime.client.conftest import CLIENT_TOKEN
from tests.runtime.client.tcp_proxy import CuttableProxy

pytestmark = pytest.mark.anyio

FAST_RECONNECT = BackoffPolicy(base_delay_s=0.05, factor=2.0, max_delay_s=0.2, max_retries=5)


@pytest.fixture
async def proxy(orch: Orchestrator) -> AsyncIterator[CuttableProxy]:
    proxy = CuttableProxy(orch.port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.stop()


async def stored_events(orch: Orchestrator, workflow_id: str) -> list[Event]:
    """Ground truth: every stored event of the workflow, read by a fresh subscription from the start."""
    async with Client(orch.url, CLIENT_TOKEN) as fresh:
        return [e async for e in fresh.events(workflow_id)]


def resumes(orch: Orchestrator) -> int:
    """Subscriptions that resumed after an event id (``websocket_session`` ``resume``), from the trace."""
    assert orch.settings.trace is not None
    return sum(e.machine == "websocket_session" and e.trigger == "resume" for e in read_trace(orch.settings.trace))


async def until(predicate: object, what: str) -> None:
    for _ in range(600):
        if callable(predicate) and predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_events_resume_after_forced_disconnects(
    orch: Orchestrator, admin: httpx.AsyncClient, proxy: CuttableProxy
) -> None:
    async with Client(proxy.url, CLIENT_TOKEN, reconnect=FAST_RECONNECT) as client:
        created = await client.submit("noop")
        workflow_id = created.workflow_id
        received: list[Event] = []

        async def follow() -> None:
            async for event in client.events(workflow_id):
                received.append(event)

        follower = asyncio.create_task(follow())
        task = await worker_steps.lease_one(admin)
        await worker_steps.start(admin, task)
        await until(lambda: len(received) >= 1, "TASK_STARTED")
        for step in range(1, 10):
            await worker_steps.progress(admin, task, step * 10)
            if step in (3, 6):
                proxy.cut()  # the next step's event happens while the client is disconnected
            if step in (5, 8):
                await until(lambda: resumes(orch) == proxy.cuts, "the stream to resume")
        await worker_steps.complete(admin, task, {"ok": True})
        await asyncio.wait_for(follower, 30)
    assert proxy.cuts == 2
    assert resumes(orch) == 2  # each cut was followed by a subscription resuming after the last event seen
    truth = await stored_events(orch, workflow_id)
    assert [e.id for e in received] == [e.id for e in truth]  # no duplicate, no gap
    assert received == truth
    kinds = [e.type for e in received]
    assert kinds == [EventType.TASK_STARTED, *[EventType.TASK_PROGRESS] * 9, EventType.TASK_COMPLETED,
                     EventType.WORKFLOW_COMPLETED]
    for event in received:  # the schema the AsyncAPI document publishes fits what is sent
        assert isinstance(event_payload(event), EVENT_PAYLOADS[event.type])
    progress = event_payload(received[1])
    assert isinstance(progress, TaskProgressPayload) and progress.percentage == 10
    assert "workerId" not in received[0].payload  # lease holders are withheld from client credentials


async def test_events_after_an_id_and_without_stopping(orch: Orchestrator, admin: httpx.AsyncClient) -> None:
    async with Client(orch.url, CLIENT_TOKEN) as client:
        created = await client.submit("noop")
        task = await worker_steps.lease_one(admin)
        await worker_steps.start(admin, task)
        await worker_steps.progress(admin, task, 50)
        first = [e async for e in _take(client.events(created.workflow_id, until_settled=False), 2)]
        later = client.events(created.workflow_id, after=first[0].id, until_settled=False)
        assert (await anext(later)).id == first[1].id
        await later.aclose()


async def _take(stream: AsyncIterator[Event], count: int) -> AsyncIterator[Event]:
    async for event in stream:
        yield event
        count -= 1
        if count == 0:
            return


async def test_a_refused_subscription_raises_stream_error(orch: Orchestrator) -> None:
    async with Client(orch.url, CLIENT_TOKEN) as client:
        with pytest.raises(StreamError, match="unknown workflow 'wf-nope'"):
            await anext(client.events("wf-nope"))


async def test_a_refused_token_is_not_retried(orch: Orchestrator) -> None:
    async with Client(orch.url, "wrong-token", reconnect=FAST_RECONNECT) as client:
        with pytest.raises(CredentialError, match="4401") as info:
            await anext(client.events("wf-1"))
    assert "wrong-token" not in str(info.value)


async def test_reconnection_gives_up_per_the_policy(orch: Orchestrator, proxy: CuttableProxy) -> None:
    waits: list[float] = []

    async def no_sleep(seconds: float) -> None:
        waits.append(seconds)

    policy = BackoffPolicy(base_delay_s=0.1, factor=2.0, max_delay_s=0.3, max_retries=3)
    async with Client(proxy.url, CLIENT_TOKEN, reconnect=policy, sleep=no_sleep) as client:
        created = await client.submit("noop")
        proxy.refusing = True
        with pytest.raises(StreamError, match=f"{created.workflow_id} .* after 4 attempt"):
            await anext(client.events(created.workflow_id))
    assert waits == policy.schedule()


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_the_token_stays_out_of_debug_logs(orch: Orchestrator, admin: httpx.AsyncClient) -> None:
    """websockets logs the handshake headers at DEBUG; the client's logger masks the token itself.

    The recorder sits on the client's own logger, so what it sees is not also masked by the
    orchestrator's log redactor (configured in this process by the in-process orchestrator).
    """
    logger = logging.getLogger("runtime.client.websocket")
    recorder = _Recorder()
    logger.addHandler(recorder)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        async with Client(orch.url, CLIENT_TOKEN) as client:
            created = await client.submit("noop")
            task = await worker_steps.lease_one(admin)
            await worker_steps.start(admin, task)
            await worker_steps.complete(admin, task, {})
            assert [e.type async for e in client.events(created.workflow_id)][-1] is EventType.WORKFLOW_COMPLETED
    finally:
        logger.removeHandler(recorder)
        logger.setLevel(level)
    assert "> Authorization: [redacted]" in recorder.messages, recorder.messages
    assert not [m for m in recorder.messages if CLIENT_TOKEN in m]
