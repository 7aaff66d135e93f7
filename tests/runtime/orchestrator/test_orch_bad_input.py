"""Bad input (issue 3): a 4xx JSON error naming the field, an unchanged database, a live server."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.orchestrator import Orchestrator
from runtime.protocol import MAX_BODY_BYTES
from tests.runtime.orchestrator.orch_helpers import lease_body, poll, register, submit

pytestmark = pytest.mark.anyio

TABLES = ("workflows", "tasks", "task_requirements", "workers", "events")


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(db) as conn:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}


JSON = {"content-type": "application/json"}

# (method, path, body or raw bytes, expected status, expected error field)
CASES: list[tuple[str, str, Any, int, str | None]] = [
    ("POST", "/api/v1/workers/register", b'{"capabilities": [', 400, "body"),
    ("POST", "/api/v1/workers/register", b"[1, 2]", 400, "body"),
    ("POST", "/api/v1/workers/register", {"capabilities": "python"}, 422, "capabilities"),
    ("POST", "/api/v1/workers/register", {"capabilities": ["Not Valid"]}, 422, "capabilities.0"),
    ("POST", "/api/v1/workers/register", {"capabilities": []}, 422, "capabilities"),
    ("POST", "/api/v1/workers/register", {"capabilities": ["python"], "maxConcurrency": "many"}, 422,
     "maxConcurrency"),
    ("POST", "/api/v1/workers/register", {"capabilities": ["python"], "colour": "blue"}, 422, "colour"),
    ("POST", "/api/v1/workers/heartbeat", {"workerId": "ghost"}, 404, "workerId"),
    ("POST", "/api/v1/workers/heartbeat", {"workerId": "w1", "health": {"memoryPercent": 400}}, 422,
     "health.memoryPercent"),
    ("DELETE", "/api/v1/workers/ghost", None, 404, "workerId"),
    ("GET", "/api/v1/tasks/poll?workerId=ghost", None, 404, "workerId"),
    ("GET", "/api/v1/tasks/poll?workerId=w1&max=0", None, 422, "max"),
    ("GET", "/api/v1/tasks/poll?workerId=w1&wait=-1", None, 422, "wait"),
    ("GET", "/api/v1/tasks/poll", None, 422, "workerId"),
    ("POST", "/api/v1/tasks/started", {"taskId": "nope", "workerId": "w1", "fencingToken": 1}, 404, "taskId"),
    ("POST", "/api/v1/tasks/progress", {"taskId": "TASK", "workerId": "w1", "fencingToken": 1, "percentage": 101},
     422, "percentage"),
    ("POST", "/api/v1/tasks/completed", {"taskId": "TASK", "workerId": "w1", "fencingToken": "one"}, 422,
     "fencingToken"),
    ("POST", "/api/v1/tasks/completed", {"taskId": "TASK", "workerId": "ghost", "fencingToken": 1}, 404, "workerId"),
    ("POST", "/api/v1/tasks/failed", {"taskId": "TASK", "workerId": "w1", "fencingToken": 1}, 422, "error"),
    ("POST", "/api/v1/workflows", {"type": "noop", "requiredCapabilities": ["GPU!"]}, 422, "requiredCapabilities.0"),
    ("POST", "/api/v1/workflows", {"type": "noop", "priority": 99}, 422, "priority"),
    ("POST", "/api/v1/workflows", {"payload": {}}, 422, "type"),
    ("POST", "/api/v1/workflows", b"x" * (MAX_BODY_BYTES + 1), 413, "body"),
    ("GET", "/api/v1/workflows/nope", None, 404, "workflowId"),
    ("GET", "/api/v1/tasks/nope", None, 404, "taskId"),
    ("GET", "/api/v1/tasks?status=sleeping", None, 422, "status"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "field"), CASES,
                         ids=[f"{c[0]} {c[1][:40]} {c[3]} {c[4]}" for c in CASES])
async def test_bad_input_is_refused_without_changing_the_database(
    orch: Orchestrator, client: httpx.AsyncClient, method: str, path: str, body: Any, status: int, field: str | None
) -> None:
    await register(client, "w1", ["python"])
    await submit(client)
    task = (await poll(client, "w1")).json()["tasks"][0]
    if isinstance(body, dict):
        body = {k: task["taskId"] if v == "TASK" else v for k, v in body.items()}
    before = snapshot(orch.settings.db)

    if isinstance(body, bytes):
        response = await client.request(method, path, content=body, headers=JSON)
    else:
        response = await client.request(method, path, json=body)

    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field and error["reason"]
    assert snapshot(orch.settings.db) == before
    # the server keeps serving
    ok = await client.post("/api/v1/tasks/started", json=lease_body(task, "w1"))
    assert ok.status_code == 200


async def test_chunked_oversize_body_is_refused(client: httpx.AsyncClient) -> None:
    async def chunks() -> Any:
        for _ in range(MAX_BODY_BYTES // 65536 + 2):
            yield b"x" * 65536

    response = await client.post("/api/v1/workflows", content=chunks(), headers=JSON)
    assert response.status_code == 413 and response.json()["error"]["field"] == "body"


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}])
async def test_requests_without_a_valid_token_get_401(orch: Orchestrator, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=orch.url, headers=headers) as anonymous:
        for method, path in (("GET", "/api/v1/workers"), ("POST", "/api/v1/workflows"),
                             ("GET", "/api/v1/tasks/poll?workerId=w1")):
            response = await anonymous.request(method, path, json={"type": "noop"})
            assert response.status_code == 401
            assert response.json()["error"]["field"] == "Authorization"
        assert (await anonymous.get("/health/live")).status_code == 200


async def test_refused_submissions_are_traced_as_lifecycle_outcomes(
    orch: Orchestrator, client: httpx.AsyncClient
) -> None:
    from spec.trace import read_trace

    await client.post("/api/v1/workers/register", json={"capabilities": ["Bad Name"]})
    await client.post("/api/v1/workflows", json={"type": "noop", "priority": -1})
    outcomes = [(e.machine, e.dest) for e in read_trace(orch.settings.trace)]  # type: ignore[arg-type]
    assert ("worker_lifecycle", "rejected") in outcomes and ("workflow_lifecycle", "rejected") in outcomes
