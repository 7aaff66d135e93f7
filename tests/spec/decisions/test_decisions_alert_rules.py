"""Pending, firing and resolved as Prometheus decides them (spec.decisions.alert_rules)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec.decisions.alert_queries import UnknownMetricError, query_for, rule_vectors
from spec.decisions.alert_rules import FIRING, INACTIVE, PENDING, AlertRules, go_float
from spec.decisions.promql import ScrapedSeries, labels_of
from spec.metrics import CALLS, TASKS_FINISHED
from spec.policies import DEFAULT_POLICIES, AlertPolicy, AlertRule

RULE = AlertRule(name="R", metric="m", threshold=1.0, for_s=30.0, summary="s", escalation_level=2)
POLICY = AlertPolicy(rules=(RULE,))
SERIES = labels_of({"service": "s"})


def test_pending_is_promoted_only_by_a_fresh_breaching_value() -> None:
    rules = AlertRules(POLICY)
    assert [c.dest for c in rules.evaluate_vector("m", {SERIES: 2.0}, at=0.0)] == [PENDING]
    # No value in later evaluations (an empty window): the series clears instead of firing.
    assert [c.dest for c in rules.evaluate_vector("m", {}, at=RULE.for_s)] == [INACTIVE]
    assert rules.statuses() == []  # forgotten once inactive and absent
    rules.evaluate_vector("m", {SERIES: 2.0}, at=100.0)
    assert [c.dest for c in rules.evaluate_vector("m", {SERIES: 2.0}, at=100.0 + RULE.for_s)] == [FIRING]
    assert [c.dest for c in rules.evaluate_vector("m", {SERIES: math.nan}, at=200.0)] == [INACTIVE]


def test_a_stale_gauge_clears_and_a_fresh_one_promotes() -> None:
    """Regression (issue 13): ``evaluate`` promoted pending series without fresh samples."""
    rules = AlertRules(POLICY)
    rules.observe("m", 2.0, at=0.0, labels={"service": "s"})
    assert [c.dest for c in rules.evaluate(RULE.for_s)] == [FIRING]  # the sample is still within lookback
    assert [c.dest for c in rules.evaluate(POLICY.lookback_s + 1)] == [INACTIVE]
    rules.observe("m", 2.0, at=1000.0, labels={"service": "s"})
    assert [c.dest for c in rules.evaluate(1000.0 + POLICY.lookback_s + 1)] == [INACTIVE]  # never fired


class Reference:
    """Prometheus's ``for:`` on instant vectors, in a few lines."""

    def __init__(self) -> None:
        self.active_at: dict[tuple[tuple[str, str], ...], float] = {}

    def firing(self, at: float, vector: dict[tuple[tuple[str, str], ...], float]) -> set[tuple[tuple[str, str], ...]]:
        breaching = {k for k, v in vector.items() if v > RULE.threshold}
        self.active_at = {k: self.active_at.get(k, at) for k in breaching}
        return {k for k, t in self.active_at.items() if at - t >= RULE.for_s}


@settings(max_examples=150, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]),
                                st.one_of(st.floats(0, 3), st.just(math.nan)), max_size=3), max_size=30))
def test_matches_prometheus_for_semantics(steps: list[dict[str, float]]) -> None:
    rules, reference = AlertRules(POLICY), Reference()
    for i, step in enumerate(steps):
        at = i * 15.0
        vector = {labels_of({"service": k}): v for k, v in step.items()}
        rules.evaluate_vector("m", vector, at=at)
        assert {s.labels for s in rules.firing()} == reference.firing(at, vector)
        pending = {s.labels for s in rules.statuses() if s.state == PENDING}
        assert pending == set(reference.active_at) - reference.firing(at, vector)


def test_error_rate_ignores_fast_fails_and_clears_without_traffic() -> None:
    store = ScrapedSeries(300.0)
    key = {"service": "s", "operation": "o"}
    for step, (errors, fast) in enumerate([(0, 0), (2, 0), (2, 5), (2, 9), (2, 9), (2, 9), (2, 9), (2, 9)]):
        store.scraped(step * 15.0, [
            (CALLS, labels_of({**key, "outcome": "error"}), errors),
            (CALLS, labels_of({**key, "outcome": "success"}), 0.0),
            (CALLS, labels_of({**key, "outcome": "fast_fail"}), fast),
        ])
    query = query_for("error_rate")
    assert query(store, 45.0, 60.0) == {labels_of(key): 1.0}  # fast fails neither errors nor attempts
    assert math.isnan(query(store, 105.0, 60.0)[labels_of(key)])  # 0/0 after traffic stopped: never > threshold


def test_task_failure_rate_and_unknown_metrics() -> None:
    store = ScrapedSeries(300.0)
    for step, (done, failed) in enumerate([(0, 0), (3, 1)]):
        store.scraped(step * 15.0, [
            (TASKS_FINISHED, labels_of({"task_type": "noop", "outcome": "complete"}), done),
            (TASKS_FINISHED, labels_of({"task_type": "noop", "outcome": "fail"}), failed),
        ])
    assert query_for("task_failure_rate")(store, 15.0, 60.0) == {labels_of({"task_type": "noop"}): 0.25}
    assert set(rule_vectors(DEFAULT_POLICIES.alerts, store, 15.0)) == {r.metric for r in DEFAULT_POLICIES.alerts.rules}
    with pytest.raises(UnknownMetricError, match="'cpu'"):
        query_for("cpu")
    with pytest.raises(KeyError, match="no alert rule reads metric 'cpu'"):
        AlertRules(POLICY).evaluate_vector("cpu", {}, at=0.0)


@pytest.mark.parametrize(("value", "text"), [
    (1.0, "1e+00"), (0.0, "0e+00"), (2.425, "2.425e+00"), (0.05, "5e-02"), (-1234.5, "-1.2345e+03"),
    (math.inf, "+Inf"), (math.nan, "NaN"),
])
def test_values_are_written_as_prometheus_writes_them(value: float, text: str) -> None:
    assert go_float(value) == text
