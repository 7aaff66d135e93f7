"""Task retries and routing by task type through the orchestrator's API (issue 12).

A submission's ``retry`` override is validated (422 naming the field); a retried failure is
answered ``queued``, shows its attempt and backoff in the task view and on the WebSocket, and
runs again as attempt 2. A worker is leased only the types it advertised; a task of a type no
live worker handles waits, in the listing and in ``orchestration_tasks_unroutable``.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from runtime.config import OrchestratorSettings
from runtime.orchestrator import Orchestrator
from runtime.orchestrator.views import waiting_for
from runtime.protocol import Event
from runtime.store.models import TaskRow
from runtime.store.registry import TypeRouting
from runtime.stream_protocol import event_payload
from spec.metrics import UNROUTABLE_TASKS
from spec.policies import BackoffPolicy
from tests.runtime.orchestrator.orch_helpers import (
    TOKEN,
    assert_conforms,
    lease_body,
    make_settings,
    poll,
    register,
    submit,
)

pytestmark = pytest.mark.anyio

#: Retries wait a few tens of milliseconds, so the test waits on the task, not on the seed's seconds.
QUICK_BACKOFF = BackoffPolicy(base_delay_s=0.05, factor=2.0, max_delay_s=0.2, jitter=0.5)


@pytest.fixture
def settings(tmp_path: Path) -> OrchestratorSettings:
    return make_settings(tmp_path, backoff=QUICK_BACKOFF)


NETWORK_ERROR = {"code": "TASK_ERROR", "errorClass": "network", "message": "connection reset by peer"}


async def leased(client: httpx.AsyncClient, worker_id: str, timeout_s: float = 30.0) -> dict[str, Any]:
    """Poll until a task is leased (a retried one becomes leasable once its backoff has passed)."""
    deadline = time.monotonic() + timeout_s
    while True:
        response = await poll(client, worker_id)
        if response.status_code == 200:
            task: dict[str, Any] = response.json()["tasks"][0]
            return task
        assert response.status_code == 204, response.text
        assert time.monotonic() < deadline, f"no task leased to {worker_id} within {timeout_s} s"
        await asyncio.sleep(0.01)


async def test_a_retried_failure_runs_again_as_attempt_two_and_every_event_says_which_attempt(
    orch: Orchestrator, client: httpx.AsyncClient, settings: OrchestratorSettings,
) -> None:
    await register(client, "w1", ["python"], taskTypes=["noop"])
    workflow_id, task_id = await submit(client, retry={"maxAttempts": 2})
    async with websockets.connect(orch.url.replace("http://", "ws://") + f"/ws?token={TOKEN}") as ws:
        await ws.send(json.dumps({"type": "subscribe", "workflowId": workflow_id}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 30))["type"] == "subscribed"

        first = await leased(client, "w1")
        assert first["attempt"] == 1
        assert (await client.post("/api/v1/tasks/started", json=lease_body(first, "w1"))).status_code == 200
        failed = await client.post("/api/v1/tasks/failed", json=lease_body(first, "w1", error=NETWORK_ERROR))
        assert failed.status_code == 200 and failed.json()["status"] == "queued"
        assert failed.json()["fencingToken"] > first["fencingToken"]

        view = (await client.get(f"/api/v1/tasks/{task_id}")).json()
        assert (view["status"], view["attempt"], view["leaseWorker"]) == ("queued", 1, None)
        assert view["notBefore"] is not None
        # The backoff may already be over on a slow machine; while it lasts, the view says so.
        assert view["waitingFor"] is None or view["waitingFor"].startswith("retry backoff until")

        second = await leased(client, "w1")
        assert (second["taskId"], second["attempt"]) == (task_id, 2)
        stale = await client.post("/api/v1/tasks/completed", json=lease_body(first, "w1", result={}))
        assert stale.status_code == 409 and stale.json()["error"]["field"] == "fencingToken"
        assert (await client.post("/api/v1/tasks/started", json=lease_body(second, "w1"))).status_code == 200
        done = await client.post("/api/v1/tasks/completed", json=lease_body(second, "w1", result={"ok": 1}))
        assert done.json()["status"] == "completed"

        events = []
        while not events or events[-1].type.value != "WORKFLOW_COMPLETED":
            message = json.loads(await asyncio.wait_for(ws.recv(), 30))
            events.append(Event.model_validate(message))
    assert [(e.type.value, e.payload.get("attempt")) for e in events] == [
        ("TASK_STARTED", 1), ("TASK_REQUEUED", 1), ("TASK_STARTED", 2), ("TASK_COMPLETED", 2),
        ("WORKFLOW_COMPLETED", None)]
    for event in events:
        event_payload(event)  # every payload fits its AsyncAPI schema
    requeued = events[1].payload
    assert requeued["error"]["errorClass"] == "network" and requeued["notBefore"] == view["notBefore"]
    low, high = QUICK_BACKOFF.delay_s(1) * (1 - QUICK_BACKOFF.jitter), QUICK_BACKOFF.delay_s(1) * (
        1 + QUICK_BACKOFF.jitter)
    assert low <= requeued["notBefore"] - events[1].time <= high
    await orch.stop()
    assert_conforms(settings)  # the orchestrator's trace replays on task_lifecycle, retry included


async def test_a_failure_of_a_class_not_retried_fails_at_once_whatever_the_attempts(
    client: httpx.AsyncClient,
) -> None:
    await register(client, "w1", ["python"])
    _, task_id = await submit(client, retry={"maxAttempts": 5, "retryOn": ["network"]})
    task = await leased(client, "w1")
    await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))
    error = {"code": "TASK_ERROR", "errorClass": "validation", "message": "bad input"}
    answer = await client.post("/api/v1/tasks/failed", json=lease_body(task, "w1", error=error))
    assert answer.json()["status"] == "failed"
    assert (await client.get(f"/api/v1/tasks/{task_id}")).json()["error"]["errorClass"] == "validation"


@pytest.mark.parametrize(("retry", "field"), [
    ({"maxAttempts": 0}, "retry.maxAttempts"),
    ({"maxAttempts": 101}, "retry.maxAttempts"),
    ({"maxAttempts": "3"}, "retry.maxAttempts"),
    ({"retryOn": ["cosmic"]}, "retry.retryOn.0"),
    ({"retryOn": ["network", "network"]}, "retry.retryOn"),
    ({"maxattempts": 3}, "retry.maxattempts"),
    ("three", "retry"),
])
async def test_a_bad_retry_override_is_refused_naming_the_field(
    client: httpx.AsyncClient, retry: object, field: str
) -> None:
    response = await client.post("/api/v1/workflows", json={"type": "noop", "retry": retry})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


@pytest.mark.parametrize(("types", "field"), [([], "taskTypes"), (["bad type"], "taskTypes.0"), ("noop", "taskTypes")])
async def test_bad_task_types_are_refused_naming_the_field(client: httpx.AsyncClient, types: object,
                                                          field: str) -> None:
    response = await client.post("/api/v1/workers/register", json={"capabilities": ["python"], "taskTypes": types})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field


def _unroutable(text: str) -> dict[str, float]:
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == UNROUTABLE_TASKS]
    return {s.labels["task_type"]: s.value for s in family.samples}


async def test_a_task_no_live_worker_handles_waits_in_the_listing_and_the_gauge_until_one_does(
    orch: Orchestrator, client: httpx.AsyncClient,
) -> None:
    await register(client, "builder", ["python"], taskTypes=["build"])
    _, task_id = await submit(client, type="sleep")
    assert (await poll(client, "builder")).status_code == 204  # not its type: never leased, never failed
    listing = (await client.get("/api/v1/tasks", params={"status": "queued"})).json()["tasks"]
    assert [(t["taskId"], t["waitingFor"]) for t in listing] == [(task_id, "no live worker handles type 'sleep'")]
    workers = (await client.get("/api/v1/workers")).json()["workers"]
    assert [w["taskTypes"] for w in workers] == [["build"]]
    async with httpx.AsyncClient(base_url=orch.url, timeout=30) as anonymous:
        gauge = _unroutable((await anonymous.get("/metrics")).text)
        assert gauge["sleep"] == 1 and gauge["other"] == 0 and gauge["noop"] == 0

        await register(client, "sleeper", ["python"], taskTypes=["sleep"])
        assert (await client.get(f"/api/v1/tasks/{task_id}")).json()["waitingFor"] is None
        gauge = _unroutable((await anonymous.get("/metrics")).text)
        assert gauge["sleep"] == 0
    task = await leased(client, "sleeper")
    assert task["taskId"] == task_id


async def test_unroutable_types_outside_the_known_ones_are_counted_as_other(
    orch: Orchestrator, client: httpx.AsyncClient,
) -> None:
    await register(client, "builder", ["python"], taskTypes=["build"])
    for task_type in ("deploy", "x1", "x2"):
        await submit(client, type=task_type)
    async with httpx.AsyncClient(base_url=orch.url, timeout=30) as anonymous:
        gauge = _unroutable((await anonymous.get("/metrics")).text)
    assert gauge["other"] == 3 and set(gauge) == {"noop", "sleep", "shell", "ai_coding", "other"}


@pytest.mark.parametrize(("status", "not_before", "routing", "expected"), [
    ("queued", 12.5, None, "retry backoff until 12.500 (attempt 2 next)"),
    ("queued", 12.5, TypeRouting(False, frozenset()), "retry backoff until 12.500 (attempt 2 next)"),
    ("queued", 9.0, TypeRouting(False, frozenset({"build"})), "no live worker handles type 'sleep'"),
    ("queued", 0.0, TypeRouting(False, frozenset({"sleep"})), None),
    ("queued", 0.0, TypeRouting(True, frozenset()), None),
    ("running", 12.5, TypeRouting(False, frozenset()), None),
])
def test_what_a_queued_task_waits_for(status: str, not_before: float, routing: TypeRouting | None,
                                      expected: str | None) -> None:
    task = TaskRow(id="t", type="sleep", status=status, attempt=1, not_before=not_before)
    assert waiting_for(task, routing, now=10.0) == expected
