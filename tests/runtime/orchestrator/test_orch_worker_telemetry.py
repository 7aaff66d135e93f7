"""POST /api/v1/workers/telemetry (issue 13): workers' calls and breakers reach the metrics and alerts."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runtime.demo.alerts import firing, read_alerts
from runtime.monitoring.fleet_telemetry import MAX_CALL_SERIES, OTHER
from runtime.orchestrator import Orchestrator
from spec.metrics import AI_PROVIDER_SERVICE

pytestmark = pytest.mark.anyio

AI = AI_PROVIDER_SERVICE


async def register_worker(client: httpx.AsyncClient, worker_id: str) -> dict[str, str]:
    response = await client.post("/api/v1/workers/register", json={"workerId": worker_id, "capabilities": ["python"]})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['workerToken']}"}


def batch(worker_id: str, sequence: int = 1, **fields: Any) -> dict[str, Any]:
    return {"workerId": worker_id, "sequence": sequence, **fields}


def call(outcome: str, **extra: Any) -> dict[str, Any]:
    return {"service": AI, "operation": "analyze", "outcome": outcome, "durationS": 0.25, **extra}


async def breaker_alerts(client: httpx.AsyncClient) -> list[str]:
    body = (await client.get("/api/v1/alerts")).json()
    return [a.labels.get("service", "") for a in firing(read_alerts(body), "CircuitBreakerOpen")]


async def test_calls_and_an_open_breaker_reach_metrics_and_alerts(orch: Orchestrator,
                                                                   client: httpx.AsyncClient) -> None:
    auth = await register_worker(client, "w1")
    body = batch("w1", calls=[call("ok"), call("network", retries=2, retryClasses=["network", "network"]),
                              call("breaker_open", durationS=0.0)],
                 breakerChanges=[{"service": AI, "source": "closed", "dest": "open", "trigger": "trip",
                                  "at": 1.0}],
                 breakers={AI: "open"}, droppedCalls=3)
    response = await client.post("/api/v1/workers/telemetry", json=body, headers=auth)
    assert response.status_code == 200, response.text
    assert response.json() == {"calls": 3, "breakerChanges": 1, "missedBatches": 0}
    scrape = (await client.get("/metrics")).text
    service = f'service="{AI}"'
    # The fast-fail is not a call of the service: one success, one error, nothing else.
    assert f'orchestration_external_calls_total{{operation="analyze",outcome="success",{service}}} 1.0' in scrape
    assert f'orchestration_external_calls_total{{operation="analyze",outcome="error",{service}}} 1.0' in scrape
    assert f'orchestration_retries_total{{error_class="network",{service}}} 2.0' in scrape
    assert f'orchestration_circuit_breaker_state{{{service},state="open"}} 1.0' in scrape
    assert await breaker_alerts(client) == [AI]
    fleet = orch.monitoring.fleet
    assert fleet.fast_fails == {("w1", AI): 1}
    assert fleet.losses()["w1"].dropped_calls == 3
    assert fleet.open_on(AI) == ("w1",)

    # The worker reports its breaker closed again: the fleet's breaker closes and the alert resolves.
    response = await client.post("/api/v1/workers/telemetry", json=batch("w1", 3, breakers={AI: "closed"}),
                                 headers=auth)
    assert response.json()["missedBatches"] == 1
    assert await breaker_alerts(client) == []
    assert f'orchestration_circuit_breaker_state{{{service},state="closed"}} 1.0' in (await client.get("/metrics")).text


async def test_the_breaker_stays_open_while_any_worker_in_rotation_reports_it_and_clears_when_it_leaves(
        orch: Orchestrator, client: httpx.AsyncClient) -> None:
    first, second = await register_worker(client, "w1"), await register_worker(client, "w2")
    await client.post("/api/v1/workers/telemetry", json=batch("w1", breakers={AI: "open"}), headers=first)
    await client.post("/api/v1/workers/telemetry", json=batch("w2", breakers={AI: "closed"}), headers=second)
    assert await breaker_alerts(client) == [AI]
    assert (await client.delete("/api/v1/workers/w1", headers=first)).status_code == 204
    assert await breaker_alerts(client) == []
    assert orch.monitoring.fleet.worker_states() == {"w2": {AI: "closed"}}


def _call_series(exposition: str) -> list[str]:
    return sorted(line for line in exposition.splitlines() if line.startswith("orchestration_external_calls_total{"))


@pytest.mark.parametrize(("fields", "field", "reason"), [
    ({"calls": [call("exploded")]}, "calls.0.outcome", "Input should be"),
    ({"calls": [call("ok", durationS=-1)]}, "calls.0.durationS", "greater than or equal to 0"),
    ({"breakers": {AI: "ajar"}}, f"breakers.{AI}", "Input should be"),
    ({"calls": [call("ok", service="bad name")]}, "calls.0.service", "String should match pattern"),
    ({"calls": [call("ok", durationS=True)]}, "calls.0.durationS", "JSON number"),
])
async def test_bad_telemetry_is_refused_naming_the_field_and_records_nothing(
        orch: Orchestrator, client: httpx.AsyncClient, fields: dict[str, Any], field: str, reason: str) -> None:
    auth = await register_worker(client, "w1")
    before = (await client.get("/metrics")).text
    good = [call("network")]
    response = await client.post("/api/v1/workers/telemetry", json=batch("w1", calls=good + fields.pop("calls", []),
                                                                         **fields), headers=auth)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field.replace("calls.0", "calls.1"), error  # the bad call follows a good one
    assert reason in error["reason"], error
    # Call counters exist at zero from the start (Prometheus's rate() needs the zero); none moved.
    assert _call_series(before) == _call_series((await client.get("/metrics")).text)
    # The heartbeat is a separate request: it still renews what it renews.
    heartbeat = await client.post("/api/v1/workers/heartbeat", json={"workerId": "w1"}, headers=auth)
    assert heartbeat.status_code == 200, heartbeat.text


async def test_a_worker_may_report_only_for_itself(client: httpx.AsyncClient) -> None:
    auth = await register_worker(client, "w1")
    await register_worker(client, "w2")
    response = await client.post("/api/v1/workers/telemetry", json=batch("w2", breakers={AI: "open"}), headers=auth)
    assert response.status_code == 403
    assert await breaker_alerts(client) == []
    anonymous = await client.post("/api/v1/workers/telemetry", json=batch("w1"), headers={"Authorization": ""})
    assert anonymous.status_code == 401


async def test_the_number_of_call_series_is_bounded(orch: Orchestrator, client: httpx.AsyncClient) -> None:
    auth = await register_worker(client, "w1")
    pairs = [call("ok", operation=f"op{n}") for n in range(MAX_CALL_SERIES + 3)]
    for start in range(0, len(pairs), 500):
        response = await client.post("/api/v1/workers/telemetry",
                                     json=batch("w1", start // 500 + 1, calls=pairs[start:start + 500]), headers=auth)
        assert response.status_code == 200, response.text
    scrape = (await client.get("/metrics")).text
    assert f'orchestration_external_calls_total{{operation="op{MAX_CALL_SERIES - 1}",outcome="success"' in scrape
    assert f'operation="op{MAX_CALL_SERIES}"' not in scrape
    assert f'orchestration_external_calls_total{{operation="{OTHER}",outcome="success",service="{OTHER}"}} 3.0' \
        in scrape
