"""``GET /metrics`` on a real orchestrator (issue 4 §2 "Prometheus metrics").

Every family of ``spec.metrics.METRICS`` is exposed, and a task that ran shows up in the task
duration histogram, the HTTP request metrics, the queue and worker gauges and resource use.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from runtime.orchestrator import Orchestrator
from spec.machines import MACHINES
from spec.metrics import (
    HTTP_REQUESTS,
    METRICS,
    QUEUE_DEPTH,
    RESOURCE_UTILISATION,
    TASK_DURATION,
    WORKERS,
)
from tests.runtime.monitoring.monitoring_helpers import run_one_task, running
from tests.runtime.orchestrator.orch_helpers import TOKEN, submit

pytestmark = pytest.mark.anyio

TASK = MACHINES["task_lifecycle"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def scrape(orch: Orchestrator, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=orch.url, timeout=30, headers=headers) as anonymous:
        return await anonymous.get("/metrics")


def samples(text: str) -> dict[str, list[Sample]]:
    """Family name (as declared, counters with ``_total``) → its samples."""
    out: dict[str, list[Sample]] = {}
    for family in text_string_to_metric_families(text):
        name = family.name + "_total" if family.type == "counter" else family.name
        out[name] = list(family.samples)
    return out


def value(found: dict[str, list[Sample]], family: str, name: str | None = None, **labels: str) -> float:
    matches = [s.value for s in found[family] if (name is None or s.name == name)
               and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(matches) == 1, (family, name, labels, found[family])
    return matches[0]


async def test_every_family_is_exposed_after_a_task_ran(tmp_path: Path) -> None:
    async with running(tmp_path) as (orch, client):
        await run_one_task(client, "w1")
        health = {"status": "healthy", "cpuPercent": 12.5, "memoryPercent": 40.0, "diskPercent": 70.0}
        assert (await client.post("/api/v1/workers/heartbeat", json={"workerId": "w1", "health": health})).is_success
        await submit(client)  # one task left waiting
        response = await scrape(orch)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert set(METRICS) <= set(found), set(METRICS) - set(found)

    assert value(found, TASK_DURATION, TASK_DURATION + "_count", task_type="noop", outcome="complete") == 1
    assert value(found, QUEUE_DEPTH) == 1
    worker_states = {s.labels["state"]: s.value for s in found[WORKERS]}
    assert set(worker_states) == set(MACHINES["worker_lifecycle"].state_names)
    assert sum(worker_states.values()) == 1
    assert value(found, RESOURCE_UTILISATION, worker_id="w1", resource="disk") == pytest.approx(0.7)
    assert value(found, HTTP_REQUESTS, method="POST", route="/api/v1/tasks/completed", status="200") == 1
    # Route templates, never raw paths with ids in them.
    assert all("{" in s.labels["route"] or "wf-" not in s.labels["route"] for s in found[HTTP_REQUESTS])


async def test_failed_task_is_timed_under_the_trigger_that_ended_it(tmp_path: Path) -> None:
    async with running(tmp_path) as (orch, client):
        await run_one_task(client, "w1", fail=True)
        found = samples((await scrape(orch)).text)
    outcomes = {s.labels["outcome"] for s in found[TASK_DURATION] if s.name.endswith("_count")}
    assert outcomes == {"fail"} and "fail" in TASK.triggers


async def test_metrics_can_require_the_bearer_token(tmp_path: Path) -> None:
    async with running(tmp_path, {"metrics_require_token": True}) as (orch, _client):
        assert (await scrape(orch)).status_code == 401
        assert (await scrape(orch, Authorization="Bearer wrong")).status_code == 401
        assert (await scrape(orch, Authorization=f"Bearer {TOKEN}")).status_code == 200


async def test_each_orchestrator_has_its_own_registry(tmp_path: Path) -> None:
    async with running(tmp_path / "a") as (first, client_a), running(tmp_path / "b") as (second, _client_b):
        await run_one_task(client_a, "w1")
        a = samples((await scrape(first)).text)
        b = samples((await scrape(second)).text)
    assert first.monitoring.metrics.registry is not second.monitoring.metrics.registry
    assert any(s.value == 1 for s in a[TASK_DURATION] if s.name.endswith("_count"))
    assert not [s for s in b[TASK_DURATION] if s.name.endswith("_count")]
