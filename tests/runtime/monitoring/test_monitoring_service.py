"""MonitoringService without an orchestrator: calls, retries and breakers → metrics and alerts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runtime.monitoring import FIRING, PENDING, MonitoringService
from runtime.protocol import Event, EventType
from runtime.resilience import OPEN, FakeClock
from spec.metrics import CALL_ERRORS, CALLS, QUEUE_DEPTH, RETRIES
from spec.policies import DEFAULT_POLICIES, AlertPolicy
from tests.runtime.monitoring.monitoring_helpers import running

pytestmark = pytest.mark.anyio

ERROR_RATE = DEFAULT_POLICIES.alerts.rule("HighErrorRate")
LATENCY = DEFAULT_POLICIES.alerts.rule("HighLatencyP95")
BREAKER_RULE = DEFAULT_POLICIES.alerts.rule("CircuitBreakerOpen")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def counter(monitoring: MonitoringService, family: str, **labels: str) -> float:
    for metric in text_string_to_metric_families(monitoring.metrics.exposition().decode()):
        if metric.name + "_total" == family:
            return sum(s.value for s in metric.samples
                       if s.name == family and all(s.labels.get(k) == v for k, v in labels.items()))
    raise AssertionError(f"{family} not exposed")


def service_with(clock: FakeClock, **alert_rules: float) -> tuple[MonitoringService, list[Event]]:
    """A service on a fake clock; `alert_rules` shorten rules' ``for_s`` (name → seconds)."""
    rules = tuple(r.model_copy(update={"for_s": alert_rules[r.name]}) if r.name in alert_rules else r
                  for r in DEFAULT_POLICIES.alerts.rules)
    policies = DEFAULT_POLICIES.model_copy(update={"alerts": AlertPolicy(rules=rules)})
    published: list[Event] = []
    return MonitoringService(policies, clock=clock, publish=published.append), published


async def always_down() -> str:
    raise ConnectionError("connection refused")


async def test_failing_calls_count_retries_errors_and_trip_the_breaker() -> None:
    clock = FakeClock()
    monitoring, published = service_with(clock)
    ai = monitoring.service("ai-provider")
    threshold = DEFAULT_POLICIES.circuit_breaker.failure_threshold
    for _ in range(threshold):
        with pytest.raises(ConnectionError):
            await ai.call("analyze", always_down)
    retries = DEFAULT_POLICIES.backoff.max_retries
    assert counter(monitoring, RETRIES, service="ai-provider", error_class="network") == threshold * retries
    assert counter(monitoring, CALLS, service="ai-provider", operation="analyze", outcome="error") == threshold
    by_class = counter(monitoring, CALL_ERRORS, service="ai-provider", operation="analyze", error_class="network")
    assert by_class == threshold
    assert monitoring.breakers.get("ai-provider").state == OPEN

    alerts = [(e.payload["alert"], e.payload["state"]) for e in published if e.type is EventType.ALERT]
    assert alerts == [(BREAKER_RULE.name, FIRING)]
    assert [e.id for e in published] == list(range(1, len(published) + 1))
    await monitoring.evaluate()  # also waits for the escalation the breaker alert started
    alert_escalations = [e for e in monitoring.escalator.history if e.source.startswith("alert:")]
    assert [(e.source, e.level) for e in alert_escalations] == [
        (f"alert:{BREAKER_RULE.name}", BREAKER_RULE.escalation_level)
    ]
    # Each call that exhausted its retries was escalated by the retry handler too (taxonomy level).
    assert sum(1 for e in monitoring.escalator.history if e.source == "retry:ai-provider") == threshold


async def test_error_rate_fires_after_its_duration_on_the_evaluation_clock() -> None:
    clock = FakeClock()
    monitoring, published = service_with(clock, HighErrorRate=10.0)
    git = monitoring.service("git-platform")  # a known service: its counters exist at zero
    await monitoring.evaluate()  # the scrape before the incident, as Prometheus has one
    with pytest.raises(ConnectionError):
        await git.call("push", always_down)
    await monitoring.evaluate()
    states = {(a["alert"], a["state"]) for a in monitoring.alerts()}
    # The failed call also took 1 + 2 + 4 s of backoff: beyond the p95 threshold, but for 300 s.
    assert states == {(ERROR_RATE.name, PENDING), (LATENCY.name, PENDING)}
    await clock.advance(10.0)
    await monitoring.evaluate()
    firing = [a for a in monitoring.alerts() if a["state"] == FIRING]
    assert [(a["alert"], a["labels"]) for a in firing] == [
        (ERROR_RATE.name, {"operation": "push", "service": "git-platform"})
    ]
    assert published[-1].payload["alert"] == ERROR_RATE.name


async def test_the_first_error_of_an_unknown_service_needs_a_scrape_before_it() -> None:
    """As in Prometheus: a child created by its first ``inc()`` has no earlier sample to rise from."""
    clock = FakeClock()
    monitoring, _ = service_with(clock, HighErrorRate=0.0)
    await monitoring.evaluate()
    with pytest.raises(ConnectionError):
        await monitoring.service("elsewhere").call("get", always_down)
    await monitoring.evaluate()
    assert monitoring.alerts() == []


async def test_error_rate_clears_once_traffic_stops() -> None:
    """Regression (issue 13): the orchestrator kept HighErrorRate firing 10+ minutes after the last
    call, where Prometheus clears it as soon as the rate window holds no increase."""
    clock = FakeClock()
    monitoring, published = service_with(clock, HighErrorRate=0.0)
    git = monitoring.service("git-platform")
    await monitoring.evaluate()
    with pytest.raises(ConnectionError):
        await git.call("push", always_down)
    await monitoring.evaluate()
    assert (ERROR_RATE.name, FIRING) in {(a["alert"], a["state"]) for a in monitoring.alerts()}
    interval = 15.0
    for _ in range(int(DEFAULT_POLICIES.alerts.rate_window_s // interval) + 1):
        await clock.advance(interval)
        await monitoring.evaluate()
    assert monitoring.alerts() == []
    assert published[-1].payload["state"] == "inactive"


async def test_successful_calls_raise_no_alert() -> None:
    monitoring, published = service_with(FakeClock())

    async def ok() -> int:
        return 7

    assert await monitoring.service("git").call("clone", ok) == 7
    await monitoring.evaluate()
    assert monitoring.alerts() == [] and published == []
    assert counter(monitoring, CALLS, service="git", operation="clone", outcome="success") == 1


async def test_the_evaluation_loop_runs_on_its_interval(tmp_path: Path) -> None:
    """Without any request, the loop refreshes the store figures and evaluates the rules."""
    async with running(tmp_path, {"alert_eval_interval_s": 0.05}) as (orch, client):
        await client.post("/api/v1/workflows", json={"type": "noop"})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while orch.monitoring.metrics.registry.get_sample_value(QUEUE_DEPTH) != 1:
            assert loop.time() < deadline, "the evaluation loop never refreshed the queue depth"
            await asyncio.sleep(0.05)


async def test_a_breaker_state_reported_from_elsewhere_alerts_at_once() -> None:
    """Worker telemetry reports breaker states it saw; the breaker rule is evaluated on the spot."""
    clock = FakeClock()
    monitoring, published = service_with(clock)
    monitoring.record_breaker_state("ai-provider", OPEN)
    assert [(a["alert"], a["state"], a["labels"]) for a in monitoring.alerts()] == [
        (BREAKER_RULE.name, FIRING, {"service": "ai-provider"})
    ]
    await clock.advance(1.0)
    monitoring.record_breaker_state("ai-provider", "closed")
    assert monitoring.alerts() == []
    assert [e.payload["state"] for e in published] == [FIRING, "inactive"]


async def test_a_series_cleared_by_nan_sends_null_not_nan() -> None:
    """0/0 (no traffic) clears a series with a NaN value; JSON has no NaN, so the event says null."""
    clock = FakeClock()
    monitoring, published = service_with(clock, HighErrorRate=0.0)
    git = monitoring.service("git-platform")
    await monitoring.evaluate()
    with pytest.raises(ConnectionError):
        await git.call("push", always_down)
    await monitoring.evaluate()
    await clock.advance(15.0)
    await monitoring.evaluate()  # the rate window still holds the increase: firing stays
    await clock.advance(DEFAULT_POLICIES.alerts.rate_window_s)
    await monitoring.evaluate()  # two samples, no increase between them: 0/0 → NaN → cleared
    cleared = [e for e in published if e.payload["alert"] == ERROR_RATE.name and e.payload["state"] == "inactive"]
    assert cleared and cleared[-1].payload["value"] is None
