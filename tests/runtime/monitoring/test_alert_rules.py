"""Alert rules from the spec's thresholds: pending, firing after ``for_s``, cleared (seed 4.5)."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.monitoring import FIRING, INACTIVE, PENDING, AlertChange, AlertEvaluator, Sample, escalate_firing
from runtime.resilience import CallbackHook, Escalation, Escalator
from spec.machines import MACHINES
from spec.policies import DEFAULT_POLICIES, AlertPolicy, AlertRule
from spec.trace import TraceEvent

RULES = DEFAULT_POLICIES.alerts
ERROR_RATE = RULES.rule("HighErrorRate")
LATENCY = RULES.rule("HighLatencyP95")
BREAKER = RULES.rule("CircuitBreakerOpen")
RESOURCES = RULES.rule("HighResourceUtilisation")


def test_states_come_from_the_spec_machine() -> None:
    assert {INACTIVE, PENDING, FIRING} == set(MACHINES["alert_rule"].state_names)


def test_error_rate_fires_only_after_being_high_for_its_duration(caplog: pytest.LogCaptureFixture) -> None:
    evaluator = AlertEvaluator()
    high = ERROR_RATE.threshold * 2
    svc = {"service": "ai", "operation": "analyze"}
    changes = evaluator.observe(ERROR_RATE.metric, high, at=0.0, labels=svc)
    assert [(c.source, c.dest) for c in changes] == [(INACTIVE, PENDING)]
    assert evaluator.observe(ERROR_RATE.metric, high, at=ERROR_RATE.for_s - 1, labels=svc) == []
    assert evaluator.evaluate(ERROR_RATE.for_s - 0.5) == []
    with caplog.at_level(logging.WARNING, logger="runtime.monitoring.alerts"):
        changes = evaluator.evaluate(ERROR_RATE.for_s)
    assert [(c.trigger, c.dest) for c in changes] == [("sustained", FIRING)]
    assert ERROR_RATE.summary in caplog.text
    [status] = evaluator.firing()
    assert status.to_json() == {
        "alert": ERROR_RATE.name,
        "labels": svc,
        "state": FIRING,
        "value": high,
        "threshold": ERROR_RATE.threshold,
        "forSeconds": ERROR_RATE.for_s,
        "since": 0.0,
        "summary": ERROR_RATE.summary,
        "escalationLevel": ERROR_RATE.escalation_level,
    }
    changes = evaluator.observe(ERROR_RATE.metric, ERROR_RATE.threshold, at=ERROR_RATE.for_s + 1, labels=svc)
    assert [(c.trigger, c.dest) for c in changes] == [("clear", INACTIVE)]
    assert evaluator.firing() == []


def test_a_dip_below_the_threshold_restarts_the_duration() -> None:
    evaluator = AlertEvaluator()
    high, ok = LATENCY.threshold + 1, LATENCY.threshold
    evaluator.observe(LATENCY.metric, high, at=0.0)
    evaluator.observe(LATENCY.metric, ok, at=LATENCY.for_s / 2)
    evaluator.observe(LATENCY.metric, high, at=LATENCY.for_s / 2 + 1)
    assert evaluator.evaluate(LATENCY.for_s + 1) == []
    assert [c.dest for c in evaluator.evaluate(LATENCY.for_s * 1.5 + 1)] == [FIRING]


def test_any_open_breaker_fires_at_once_per_service() -> None:
    evaluator = AlertEvaluator()
    assert BREAKER.for_s == 0
    assert evaluator.observe(BREAKER.metric, 0.0, at=1.0, labels={"service": "git"}) == []
    changes = evaluator.observe(BREAKER.metric, 1.0, at=2.0, labels={"service": "ai"})
    assert [c.dest for c in changes] == [PENDING, FIRING]
    assert [dict(s.labels) for s in evaluator.firing()] == [{"service": "ai"}]
    assert {dict(s.labels)["service"]: s.state for s in evaluator.statuses()} == {"ai": FIRING, "git": INACTIVE}


def test_resource_rule_and_bad_input() -> None:
    evaluator = AlertEvaluator()
    samples = [Sample(RESOURCES.metric, 0.95, t, {"worker_id": "w-1"}) for t in (0.0, RESOURCES.for_s)]
    assert [c.dest for c in evaluator.run(samples)] == [PENDING, FIRING]
    with pytest.raises(KeyError, match="no alert rule reads metric 'cpu'"):
        evaluator.observe("cpu", 1.0, at=0.0)
    with pytest.raises(ValueError, match="time order"):
        evaluator.observe(RESOURCES.metric, 0.5, at=1.0, labels={"worker_id": "w-1"})
    assert set(evaluator.metrics) == {r.metric for r in RULES.rules}


def test_traces_replay_on_the_machine_and_firing_escalates() -> None:
    async def scenario() -> None:
        events: list[TraceEvent] = []
        seen: list[AlertChange] = []
        evaluator = AlertEvaluator(trace_sink=events.append, listener=seen.append)
        changes = evaluator.observe(BREAKER.metric, 1.0, at=0.0, labels={"service": "ai"})
        got: list[Escalation] = []
        escalator = Escalator(hooks={level: [CallbackHook(got.append)] for level in range(1, 5)})
        outcomes = await escalate_firing(changes, escalator)
        assert [o.escalation.level for o in outcomes] == [BREAKER.escalation_level]
        assert got[0].reason == BREAKER.summary and got[0].details["labels"] == {"service": "ai"}
        assert seen == changes
        run = MACHINES["alert_rule"].bind()
        for e in events:
            assert run.fire(e.trigger).dest == e.dest
        assert [e.trigger for e in events] == ["record", "breach", "sustained"]
        assert events[0].component == "alert:CircuitBreakerOpen,service=ai"

    asyncio.run(scenario())


class ReferenceRule:
    """Prometheus ``for:`` semantics in a few lines."""

    def __init__(self, rule: AlertRule) -> None:
        self.rule = rule
        self.since: float | None = None

    def state_after(self, at: float, value: float) -> str:
        if value <= self.rule.threshold:
            self.since = None
            return INACTIVE
        if self.since is None:
            self.since = at
        return FIRING if at - self.since >= self.rule.for_s else PENDING


@settings(max_examples=80, deadline=None)
@given(
    threshold=st.floats(min_value=0, max_value=10),
    for_s=st.sampled_from([0.0, 1.0, 5.0, 30.0]),
    steps=st.lists(st.tuples(st.floats(min_value=0, max_value=20), st.floats(min_value=0, max_value=15)), max_size=40),
)
def test_evaluator_matches_reference_semantics(
    threshold: float, for_s: float, steps: list[tuple[float, float]]
) -> None:
    rule = AlertRule(name="R", metric="m", threshold=threshold, for_s=for_s, summary="s", escalation_level=1)
    evaluator = AlertEvaluator(AlertPolicy(rules=(rule,)))
    reference = ReferenceRule(rule)
    at = 0.0
    for gap, value in steps:
        at += gap
        evaluator.observe("m", value, at=at)
        [status] = evaluator.statuses()
        assert status.state == reference.state_after(at, value)


def test_a_forced_open_breaker_shows_as_a_firing_alert() -> None:
    from runtime.monitoring import watch_breakers
    from runtime.resilience import BreakerRegistry, FakeClock

    async def scenario() -> None:
        clock = FakeClock()
        registry = BreakerRegistry(clock=clock)
        registry.get("git")
        evaluator = AlertEvaluator()
        report = watch_breakers(registry, evaluator)
        assert evaluator.firing() == []
        registry.get("ai").force_open()
        [status] = evaluator.firing()
        assert status.rule.name == BREAKER.name and dict(status.labels) == {"service": "ai"}
        await clock.sleep(DEFAULT_POLICIES.circuit_breaker.open_duration_s)

        async def ok() -> str:
            return "ok"

        await registry["ai"].execute(ok)  # trial succeeds: closed again
        assert evaluator.firing() == []
        assert report() == []
        with pytest.raises(KeyError, match="no rule reading"):
            watch_breakers(registry, AlertEvaluator(AlertPolicy(rules=(ERROR_RATE,))))

    asyncio.run(scenario())
