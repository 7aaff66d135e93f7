"""Cheap amplification is refused (issue 10, item 5): progress floods get 429, subscribe floods error frames.

Virtual time: the tests set ``orch.monotonic`` (the clock the rate gates read), so nothing sleeps.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import websockets

from runtime.config import OrchestratorSettings
from runtime.orchestrator import Orchestrator, ws_api
from spec.policies import ProgressPolicy, WebSocketPolicy
from tests.runtime.orchestrator.orch_helpers import AUTH, lease_body, make_settings, poll, register, submit

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def settings(tmp_path: Any) -> OrchestratorSettings:
    return make_settings(tmp_path, progress=ProgressPolicy(), websocket=WebSocketPolicy(subscribe_burst=3,
                                                                                         max_subscriptions=4))


@pytest.fixture
def clock(orch: Orchestrator) -> Clock:
    clock = Clock()
    orch.monotonic = clock  # type: ignore[method-assign]
    return clock


async def _leased(client: httpx.AsyncClient) -> dict[str, Any]:
    await register(client, "w1", ["python"])
    await submit(client)
    response = await poll(client, "w1")
    task: dict[str, Any] = response.json()["tasks"][0]
    assert (await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))).status_code == 200
    return task


async def test_progress_faster_than_the_policy_gets_429_with_retry_after(
    client: httpx.AsyncClient, orch: Orchestrator, clock: Clock
) -> None:
    policy = orch.policies.progress
    task = await _leased(client)
    body = lease_body(task, "w1", percentage=10.0)
    assert (await client.post("/api/v1/tasks/progress", json=body)).status_code == 200
    clock.now += policy.interval_s / 10
    flood = await client.post("/api/v1/tasks/progress", json=body)
    assert flood.status_code == 429, flood.text
    assert flood.json()["error"]["field"] == "percentage"
    assert 0 < float(flood.headers["Retry-After"]) <= policy.interval_s
    # A milestone has its own, shorter gap; a second one at once is refused.
    milestone = {**body, "milestone": True}
    assert (await client.post("/api/v1/tasks/progress", json=milestone)).status_code == 200
    refused = await client.post("/api/v1/tasks/progress", json=milestone)
    assert (refused.status_code, refused.json()["error"]["field"]) == (429, "milestone")
    clock.now += policy.interval_s
    assert (await client.post("/api/v1/tasks/progress", json=body)).status_code == 200
    stored = (await client.get(f"/api/v1/tasks/{task['taskId']}")).json()
    assert stored["status"] == "running"


async def test_progress_from_a_non_holder_is_refused_before_it_counts(
    client: httpx.AsyncClient, clock: Clock
) -> None:
    task = await _leased(client)
    stale = lease_body(task, "w1", percentage=5.0, fencingToken=task["fencingToken"] + 1)
    for _ in range(3):
        assert (await client.post("/api/v1/tasks/progress", json=stale)).status_code == 409
    assert (await client.post("/api/v1/tasks/progress", json=lease_body(task, "w1", percentage=5.0))).status_code == 200


async def _exchange(ws: Any, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send(json.dumps(message))
    while True:
        answer: dict[str, Any] = json.loads(await ws.recv())
        if answer["type"] in ("subscribed", "error"):
            return answer


async def test_a_subscribe_flood_gets_error_frames_and_repeats_read_nothing(
    client: httpx.AsyncClient, orch: Orchestrator, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    real = ws_api.events_since

    async def counting(session: Any, workflow_id: str, after: int, limit: int) -> Any:
        reads.append(workflow_id)
        return await real(session, workflow_id, after, limit)

    monkeypatch.setattr(ws_api, "events_since", counting)
    workflows = [(await submit(client))[0] for _ in range(6)]
    policy = orch.policies.websocket
    url = orch.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url, additional_headers=AUTH) as ws:
        first = {"type": "subscribe", "workflowId": workflows[0]}
        assert (await _exchange(ws, first))["type"] == "subscribed"
        assert len(reads) == 1
        for _ in range(20):  # already streaming, nothing new: answered without a read or a budget token
            assert (await _exchange(ws, {**first, "lastEventId": 10**6}))["type"] == "subscribed"
        assert len(reads) == 1
        for workflow_id in workflows[1:policy.subscribe_burst]:
            assert (await _exchange(ws, {"type": "subscribe", "workflowId": workflow_id}))["type"] == "subscribed"
        over = await _exchange(ws, {"type": "subscribe", "workflowId": workflows[policy.subscribe_burst]})
        assert over["type"] == "error" and "subscribes_per_s" in over["error"]["reason"], over
        assert len(reads) == policy.subscribe_burst
        clock.now += 1 / policy.subscribes_per_s
        assert (await _exchange(ws, {"type": "subscribe", "workflowId": workflows[3]}))["type"] == "subscribed"
        clock.now += 10
        limit = await _exchange(ws, {"type": "subscribe", "workflowId": workflows[4]})
        assert limit["error"]["field"] == "workflowId" and "max_subscriptions" in limit["error"]["reason"], limit
        # The connection is still usable.
        assert (await _exchange(ws, first | {"lastEventId": 0}))["type"] == "subscribed"
