"""Authentication before parsing, and poison-proof ingress (docs/security.md).

Regressions for: malformed JSON parsed (and a ``workflow:rejected`` trace line written) for
requests without a token; a lone surrogate in a payload wedging the queue (every poll that
leased it answered 500 while its lease stayed committed); NaN stored as non-standard JSON;
``offset`` 2^63, deep nesting, ``"priority": false`` and ``"5"`` answered badly.
"""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.orchestrator import Orchestrator
from tests.runtime.orchestrator.orch_helpers import AUTH, register, submit

pytestmark = pytest.mark.anyio


def _trace_lines(orch: Orchestrator) -> int:
    path = orch.settings.trace
    assert path is not None
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


async def test_unauthenticated_requests_are_refused_before_parsing(orch: Orchestrator) -> None:
    before = _trace_lines(orch)
    async with httpx.AsyncClient(base_url=orch.url) as anonymous:
        for _ in range(50):
            answer = await anonymous.post("/api/v1/workflows", content=b'{"type":',
                                          headers={"Content-Type": "application/json"})
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"] == "Bearer"
            assert answer.json()["error"]["field"] == "Authorization"
        wrong = await anonymous.post("/api/v1/workflows", json={"type": "noop"}, headers={"Authorization": "Bearer x"})
        assert (wrong.status_code, wrong.json()["error"]["reason"]) == (401, "invalid bearer token")
    assert _trace_lines(orch) == before


async def test_an_unauthenticated_body_is_never_read(orch: Orchestrator) -> None:
    """Headers promising a megabyte that never comes: the 401 is sent without waiting for it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", orch.port)
    writer.write(b"POST /api/v1/workflows HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000000\r\n\r\n{")
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 401")


async def test_unauthenticated_websockets_write_no_trace(orch: Orchestrator) -> None:
    before = _trace_lines(orch)
    for _ in range(5):
        async with websockets.connect(orch.url.replace("http://", "ws://") + "/ws") as ws:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert _trace_lines(orch) == before


@pytest.mark.parametrize(("body", "field"), [
    (b'{"type": "noop", "payload": {"x": "\\ud800"}}', "payload.x"),  # a lone surrogate, escaped
    ('{"type": "noop", "payload": {"x": "\ud800"}}'.encode("utf-8", "surrogatepass"), "payload.x"),  # raw bytes
    (b'{"type": "noop", "payload": {"a": [1, NaN]}}', "payload.a.1"),
    (b'{"type": "noop", "payload": {"a": -Infinity}}', "payload.a"),
    (b'{"type": "noop", "payload": {"\\udfff": 1}}', "payload"),
])
async def test_values_the_store_could_not_serve_back_are_refused(
    orch: Orchestrator, client: httpx.AsyncClient, body: bytes, field: str
) -> None:
    answer = await client.post("/api/v1/workflows", content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == field
    assert (await client.get("/api/v1/tasks")).json()["tasks"] == []


async def test_a_poisoned_result_is_refused_and_the_task_still_completes(client: httpx.AsyncClient) -> None:
    await register(client, "w1", ["python"])
    await submit(client)
    (task,) = (await client.get("/api/v1/tasks/poll", params={"workerId": "w1"})).json()["tasks"]
    lease = {"taskId": task["taskId"], "workerId": "w1", "fencingToken": task["fencingToken"]}
    assert (await client.post("/api/v1/tasks/started", json=lease)).status_code == 200
    poisoned = json.dumps({**lease, "result": {"y": math.inf}}).encode()
    answer = await client.post("/api/v1/tasks/completed", content=poisoned,
                               headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["error"]["field"]) == (422, "result.y")
    assert (await client.post("/api/v1/tasks/completed", json={**lease, "result": {"y": 1}})).status_code == 200
    assert (await client.get(f"/api/v1/tasks/{task['taskId']}")).json()["status"] == "completed"


@pytest.mark.parametrize(("body", "status", "field"), [
    (b"[" * 5000, 400, "body"),
    (b"[" * 100_000, 400, "body"),
    (b'{"type": "noop", "priority": false}', 422, "priority"),
    (b'{"type": "noop", "priority": "5"}', 422, "priority"),
    (b'{"type":', 400, "body"),
])
async def test_malformed_bodies_name_the_field(client: httpx.AsyncClient, body: bytes, status: int, field: str) -> None:
    answer = await client.post("/api/v1/workflows", content=body, headers={"Content-Type": "application/json"})
    assert (answer.status_code, answer.json()["error"]["field"]) == (status, field), answer.text
    assert (await client.get("/health/live")).status_code == 200


@pytest.mark.parametrize("query", [{"offset": 2**63}, {"offset": -1}, {"limit": 0}, {"status": "nope"}])
async def test_out_of_range_queries_are_422(client: httpx.AsyncClient, query: dict[str, Any]) -> None:
    answer = await client.get("/api/v1/tasks", params=query)
    assert answer.status_code == 422, answer.text
    assert answer.json()["error"]["field"] == next(iter(query))


async def test_bad_websocket_frames_get_error_frames_and_the_connection_stays(
    orch: Orchestrator, client: httpx.AsyncClient
) -> None:
    workflow_id, _ = await submit(client)
    url = orch.url.replace("http://", "ws://") + "/ws"
    async with websockets.connect(url, additional_headers=AUTH, max_size=None) as ws:
        for frame, field in ((b"\x00\x01binary", "message"), ("[" * 100_000, "message"),
                             (json.dumps({"type": "subscribe", "workflowId": workflow_id, "lastEventId": 2**63}),
                              "lastEventId"),
                             ('{"type": "subscribe", "workflowId": "\\ud800"}', "workflowId")):
            await ws.send(frame)
            answer = json.loads(await ws.recv())
            assert (answer["type"], answer["error"]["field"]) == ("error", field), answer
        await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id}))
        assert json.loads(await ws.recv()) == {"type": "subscribed", "workflowId": workflow_id}


_SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(
    st.characters(codec=None, exclude_categories=()), max_size=5)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=3), inner, max_size=3), max_leaves=8)
_ENDPOINTS = ("/api/v1/workflows", "/api/v1/workers/register", "/api/v1/workers/heartbeat", "/api/v1/tasks/started",
              "/api/v1/tasks/progress", "/api/v1/tasks/completed", "/api/v1/tasks/failed",
              "/api/v1/tasks/interrupted", "/api/v1/tasks/reports")


async def test_hostile_json_on_every_endpoint_leaves_the_queue_serving(tmp_path: Path, orch: Orchestrator) -> None:
    """Whatever JSON arrives (NaN, surrogates, wrong shapes), nothing 5xx, and reads keep answering."""
    async with httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as client:
        await register(client, "w1", ["python"])
        workflow_id, _ = await submit(client, payload={"a": 1})
        loop = asyncio.get_running_loop()

        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(endpoint=st.sampled_from(_ENDPOINTS), value=_JSON, shaped=st.booleans())
        def post(endpoint: str, value: Any, shaped: bool) -> None:
            body = {"type": "noop", "workerId": "w1", "taskId": "t", "fencingToken": 1, "capabilities": ["python"],
                    "payload": value, "result": value, "details": value} if shaped else value
            content = json.dumps(body, allow_nan=True).encode()
            answer = asyncio.run_coroutine_threadsafe(
                client.post(endpoint, content=content, headers={"Content-Type": "application/json"}), loop).result()
            assert answer.status_code < 500, (endpoint, content, answer.text)

        await asyncio.to_thread(post)
        for path in ("/api/v1/tasks", f"/api/v1/workflows/{workflow_id}", "/api/v1/workers"):
            assert (await client.get(path)).status_code == 200, path
        polled = await client.get("/api/v1/tasks/poll", params={"workerId": "w1", "wait": 0})
        assert polled.status_code in (200, 204)
        async with websockets.connect(orch.url.replace("http://", "ws://") + "/ws", additional_headers=AUTH) as ws:
            await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id}))
            assert json.loads(await ws.recv())["type"] == "subscribed"
