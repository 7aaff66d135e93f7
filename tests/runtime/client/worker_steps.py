"""A worker's part played over raw HTTP, so the client tests drive tasks to any outcome without a worker process."""

from __future__ import annotations

from typing import Any

import httpx

from tests.runtime.orchestrator.orch_helpers import lease_body, poll, register


async def lease_one(admin: httpx.AsyncClient, worker_id: str = "w1") -> dict[str, Any]:
    if (await admin.get("/api/v1/workers")).json()["workers"] == []:
        await register(admin, worker_id, ["python"], maxConcurrency=8)
    response = await poll(admin, worker_id)
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()["tasks"][0]
    return task


async def start(admin: httpx.AsyncClient, task: dict[str, Any], worker_id: str = "w1") -> None:
    assert (await admin.post("/api/v1/tasks/started", json=lease_body(task, worker_id))).status_code == 200


async def progress(admin: httpx.AsyncClient, task: dict[str, Any], percentage: float, worker_id: str = "w1") -> None:
    body = lease_body(task, worker_id, percentage=percentage, step=f"step-{percentage:g}")
    assert (await admin.post("/api/v1/tasks/progress", json=body)).status_code == 200


async def complete(admin: httpx.AsyncClient, task: dict[str, Any], result: dict[str, Any],
                   worker_id: str = "w1") -> None:
    body = lease_body(task, worker_id, result=result)
    assert (await admin.post("/api/v1/tasks/completed", json=body)).status_code == 200


async def fail(admin: httpx.AsyncClient, task: dict[str, Any], code: str, message: str, worker_id: str = "w1") -> None:
    body = lease_body(task, worker_id, error={"code": code, "errorClass": "permanent", "message": message})
    assert (await admin.post("/api/v1/tasks/failed", json=body)).status_code == 200
