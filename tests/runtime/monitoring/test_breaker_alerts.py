"""A breaker forced open shows in metrics, on ``/api/v1/alerts`` and as a WebSocket ALERT event
(issue 4 Tests: "Metrics and alert endpoints report a breaker that was forced open")."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from runtime.monitoring import FIRING, INACTIVE
from runtime.protocol import EventType
from runtime.resilience import CLOSED, OPEN
from spec.metrics import BREAKER_STATE
from spec.policies import DEFAULT_POLICIES, AlertPolicy
from tests.runtime.monitoring.monitoring_helpers import next_message, run_one_task, running, wait_for_clients, ws_url

pytestmark = pytest.mark.anyio

BREAKER_RULE = DEFAULT_POLICIES.alerts.rule("CircuitBreakerOpen")
RESOURCE_RULE = DEFAULT_POLICIES.alerts.rule("HighResourceUtilisation")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def breaker_gauge(text: str, service: str) -> dict[str, float]:
    for family in text_string_to_metric_families(text):
        if family.name == BREAKER_STATE:
            return {s.labels["state"]: s.value for s in family.samples if s.labels["service"] == service}
    raise AssertionError(f"{BREAKER_STATE} not exposed")


async def heartbeat(client: httpx.AsyncClient, worker_id: str, health: dict[str, object]) -> None:
    response = await client.post("/api/v1/workers/heartbeat", json={"workerId": worker_id, "health": health})
    assert response.is_success, response.text


async def test_forced_open_breaker_is_reported_everywhere(tmp_path: Path) -> None:
    async with running(tmp_path) as (orch, client):
        breaker = orch.breakers.get("git-platform")
        async with websockets.connect(ws_url(orch)) as ws:
            await wait_for_clients(orch, 1)
            assert breaker_gauge((await client.get("/metrics")).text, "git-platform")[CLOSED] == 1
            breaker.force_open()

            event = await next_message(ws)
            assert event["type"] == EventType.ALERT.value
            assert event["payload"]["alert"] == BREAKER_RULE.name
            assert event["payload"]["state"] == FIRING
            assert event["payload"]["labels"] == {"service": "git-platform"}
            assert event["payload"]["escalationLevel"] == BREAKER_RULE.escalation_level

            gauge = breaker_gauge((await client.get("/metrics")).text, "git-platform")
            assert gauge[OPEN] == 1 and sum(gauge.values()) == 1

            body = (await client.get("/api/v1/alerts")).json()
            assert body["status"] == "success"
            assert body["data"]["breakers"] == {"git-platform": OPEN}
            firing = [a for a in body["data"]["alerts"] if a["state"] == FIRING]
            assert [a["labels"] for a in firing] == [{
                "alertname": BREAKER_RULE.name, "service": "git-platform", "severity": "warning",
                "escalation_level": str(BREAKER_RULE.escalation_level),
            }]
            annotations = firing[0]["annotations"]
            assert annotations["summary"] == BREAKER_RULE.summary
            assert "map[service:git-platform]" in annotations["description"]
            assert annotations["runbook_url"].endswith("#" + BREAKER_RULE.name.lower())
            assert firing[0]["value"] == "1e+00"
            active_at = datetime.fromisoformat(firing[0]["activeAt"].replace("Z", "+00:00"))
            assert abs(active_at.timestamp() - time.time()) < 60  # wall time, not the monotonic clock

        # The firing alert was escalated at its rule's level.
        await orch.monitoring.evaluate()
        assert [e.level for e in orch.monitoring.escalator.history] == [BREAKER_RULE.escalation_level]
        assert "alerts_firing" in (await client.get("/metrics")).text


async def test_alerts_endpoint_needs_the_token(tmp_path: Path) -> None:
    async with running(tmp_path) as (orch, _client):
        async with httpx.AsyncClient(base_url=orch.url, timeout=30) as anonymous:
            response = await anonymous.get("/api/v1/alerts")
    assert response.status_code == 401
    assert response.json()["error"]["field"] == "Authorization"


async def test_no_alerts_while_everything_is_healthy(tmp_path: Path) -> None:
    async with running(tmp_path) as (orch, client):
        orch.breakers.get("ai-provider")
        body = (await client.get("/api/v1/alerts")).json()
    assert body == {"status": "success", "data": {"alerts": [], "breakers": {"ai-provider": CLOSED}}}


async def test_resource_use_from_heartbeats_alerts(tmp_path: Path) -> None:
    """Resource use over the threshold, from a worker's heartbeat, fires once it lasted ``for_s``.

    The rule's duration is shortened to 0 so the test need not wait ten minutes; the
    threshold is the spec's.
    """
    instant = RESOURCE_RULE.model_copy(update={"for_s": 0.0})
    alerts = AlertPolicy(rules=(instant,), escalation_levels=DEFAULT_POLICIES.alerts.escalation_levels)
    async with running(tmp_path, alerts=alerts) as (orch, client):
        response = await client.post("/api/v1/workers/register", json={"workerId": "w1", "capabilities": ["python"]})
        assert response.status_code == 200
        over = RESOURCE_RULE.threshold * 100 + 5
        health = {"status": "healthy", "cpuPercent": 1.0, "memoryPercent": over, "diskPercent": 1.0}
        async with websockets.connect(ws_url(orch)) as ws:
            await wait_for_clients(orch, 1)
            await heartbeat(client, "w1", health)
            body = (await client.get("/api/v1/alerts")).json()
            event = await next_message(ws)
        firing = [a["labels"] for a in body["data"]["alerts"] if a["state"] == FIRING]
        assert [(f.pop("alertname"), f["resource"], f["worker_id"]) for f in firing] == [
            (RESOURCE_RULE.name, "memory", "w1")
        ]
        assert event["payload"]["alert"] == RESOURCE_RULE.name

        health["memoryPercent"] = 10.0
        await heartbeat(client, "w1", health)
        assert (await client.get("/api/v1/alerts")).json()["data"]["alerts"] == []
        states = {s.state for s in orch.monitoring.evaluator.statuses()}
        assert states == {INACTIVE}


async def test_pending_alert_shows_before_it_fires(tmp_path: Path) -> None:
    async with running(tmp_path) as (orch, client):
        await client.post("/api/v1/workers/register", json={"workerId": "w1", "capabilities": ["python"]})
        health = {"status": "healthy", "cpuPercent": 99.0}
        await heartbeat(client, "w1", health)
        body = (await client.get("/api/v1/alerts")).json()
    assert [(a["labels"]["alertname"], a["state"]) for a in body["data"]["alerts"]] == [
        (RESOURCE_RULE.name, "pending")
    ]


async def test_an_unhealthy_worker_fires_worker_down_and_recovery_clears_it(tmp_path: Path) -> None:
    rule = DEFAULT_POLICIES.alerts.rule("WorkerDown").model_copy(update={"for_s": 0.0})
    alerts = DEFAULT_POLICIES.alerts.model_copy(update={"rules": (rule,)})
    async with running(tmp_path, alerts=alerts) as (_orch, client):
        await client.post("/api/v1/workers/register", json={"workerId": "w1", "capabilities": ["python"]})
        await heartbeat(client, "w1", {"status": "unhealthy"})
        body = (await client.get("/api/v1/alerts")).json()
        assert [(a["labels"]["alertname"], a["state"], a["value"]) for a in body["data"]["alerts"]] == [
            (rule.name, FIRING, "1e+00")
        ]
        await heartbeat(client, "w1", {"status": "healthy"})
        assert (await client.get("/api/v1/alerts")).json()["data"]["alerts"] == []


async def test_failing_tasks_fire_the_task_failure_rate_alert(tmp_path: Path) -> None:
    rule = DEFAULT_POLICIES.alerts.rule("HighTaskFailureRate").model_copy(update={"for_s": 0.0})
    alerts = DEFAULT_POLICIES.alerts.model_copy(update={"rules": (rule,)})
    async with running(tmp_path, alerts=alerts) as (_orch, client):
        assert (await client.get("/api/v1/alerts")).json()["data"]["alerts"] == []  # the scrape before
        await run_one_task(client, "w1", fail=True)
        body = (await client.get("/api/v1/alerts")).json()
    [alert] = body["data"]["alerts"]
    assert alert["labels"]["alertname"] == rule.name and alert["labels"]["task_type"] == "noop"
    assert alert["state"] == FIRING
