"""``/asyncapi.json``: served open, complete (every message, every reference resolves), true to what ``/ws`` sends."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from runtime.client import Client
from runtime.orchestrator import Orchestrator
from runtime.orchestrator.asyncapi import ASYNCAPI_VERSION, CHANNEL, asyncapi_document, event_schema_name
from runtime.protocol import Event, EventType
from tests.runtime.orchestrator.orch_helpers import TOKEN, lease_body, poll, register, submit

pytestmark = pytest.mark.anyio


def refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "$ref" and isinstance(child, str):
                yield child
            else:
                yield from refs(child)
    elif isinstance(value, list):
        for child in value:
            yield from refs(child)


def resolve(document: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = document
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def message_validator(document: dict[str, Any], message: str) -> jsonschema.Draft202012Validator:
    payload = document["components"]["messages"][message]["payload"]
    return jsonschema.Draft202012Validator({"components": document["components"], "allOf": [payload]})


async def test_served_without_a_token_naming_the_host(orch: Orchestrator) -> None:
    async with httpx.AsyncClient(base_url=orch.url, timeout=30) as anonymous:
        response = await anonymous.get("/asyncapi.json")
    assert response.status_code == 200, response.text
    document = response.json()
    assert document["asyncapi"] == ASYNCAPI_VERSION
    assert document["servers"]["orchestrator"]["host"] == orch.url.removeprefix("http://")
    assert document["channels"][CHANNEL]["address"] == "/ws"


def test_every_message_is_declared_and_every_reference_resolves() -> None:
    document = asyncapi_document("t", "1")
    for ref in refs(document):
        resolve(document, ref)
    messages = document["components"]["messages"]
    assert set(messages) == {"subscribe", "subscribed", "error", *(t.value for t in EventType)}
    operations = document["operations"]
    sent = [r["$ref"].rsplit("/", 1)[1] for r in operations["subscribe"]["messages"]]
    received = [r["$ref"].rsplit("/", 1)[1] for r in operations["receive"]["messages"]]
    assert operations["subscribe"]["action"] == "send" and sent == ["subscribe"]
    assert operations["receive"]["action"] == "receive" and sorted(received) == sorted(set(messages) - {"subscribe"})
    for event_type in EventType:
        schema = document["components"]["schemas"][event_schema_name(event_type)]
        assert schema["properties"]["type"]["const"] == event_type.value and schema["description"]


async def _run(client: httpx.AsyncClient, outcome: str) -> str:
    workflow_id, _ = await submit(client)
    task = (await poll(client, "w1")).json()["tasks"][0]
    if outcome == "requeue":  # handed back before it started, then leased again
        await client.post("/api/v1/tasks/interrupted", json=lease_body(task, "w1", state={"step": 1}))
        task = (await poll(client, "w1")).json()["tasks"][0]
    await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))
    await client.post("/api/v1/tasks/progress", json=lease_body(task, "w1", percentage=50, step="half"))
    if outcome == "fail":
        error = {"code": "BUILD_FAILED", "errorClass": "permanent", "message": "no"}
        assert (await client.post("/api/v1/tasks/failed", json=lease_body(task, "w1", error=error))).is_success
    else:
        assert (await client.post("/api/v1/tasks/completed", json=lease_body(task, "w1", result={"a": 1}))).is_success
    return workflow_id


async def _run_dag(client: httpx.AsyncClient, outcome: str) -> str:
    """A two-task workflow whose first task fails (its dependent is skipped) or which is cancelled."""
    tasks = [{"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "dependsOn": ["a"]}]
    response = await client.post("/api/v1/workflows", json={"tasks": tasks, "failurePolicy": "finish_independent"})
    workflow_id: str = response.json()["workflowId"]
    if outcome == "cancel":
        assert (await client.post(f"/api/v1/workflows/{workflow_id}/cancel")).is_success
        return workflow_id
    task = (await poll(client, "w1")).json()["tasks"][0]
    await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))
    error = {"code": "BUILD_FAILED", "errorClass": "permanent", "message": "no"}
    assert (await client.post("/api/v1/tasks/failed", json=lease_body(task, "w1", error=error))).is_success
    return workflow_id


async def test_events_the_orchestrator_sends_fit_the_document(orch: Orchestrator, client: httpx.AsyncClient) -> None:
    document = asyncapi_document("t", "1")
    await register(client, "w1", ["python"])
    seen: list[Event] = []
    async with Client(orch.url, TOKEN) as events:
        for outcome in ("complete", "fail", "requeue"):
            workflow_id = await _run(client, outcome)
            seen += [e async for e in events.events(workflow_id)]
        for outcome in ("skip", "cancel"):
            workflow_id = await _run_dag(client, outcome)
            seen += [e async for e in events.events(workflow_id)]
    assert {e.type for e in seen} >= set(EventType) - {EventType.SHUTDOWN, EventType.ALERT}
    for event in seen:
        message_validator(document, event.type.value).validate(event.model_dump(mode="json", by_alias=True))
    with pytest.raises(jsonschema.ValidationError):  # the schemas bite: a payload of the wrong type is refused
        progress = next(e for e in seen if e.type is EventType.TASK_PROGRESS)
        wrong = progress.model_copy(update={"payload": {**progress.payload, "percentage": "half"}})
        message_validator(document, "TASK_PROGRESS").validate(wrong.model_dump(mode="json", by_alias=True))
