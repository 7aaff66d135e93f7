"""The Prometheus rules file says what the spec's alert policy says (seed 4.5 "Alert Thresholds")."""

from __future__ import annotations

import re

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from spec.policies import DEFAULT_POLICIES, AlertPolicy, AlertRule
from spec.render.prometheus_rules import (
    METRICS,
    PrometheusRulesError,
    prometheus_rules,
    promql_duration,
    render_prometheus_rules,
)

_UNITS = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text: str) -> float:
    """Prometheus duration syntax back to seconds (the inverse the tests rely on)."""
    parts = re.findall(r"(\d+)(ms|d|h|m|s)", text)
    assert "".join(n + u for n, u in parts) == text, f"not a Prometheus duration: {text!r}"
    return sum(int(n) * _UNITS[u] for n, u in parts)


def test_one_rule_per_policy_rule_with_its_threshold_duration_and_level() -> None:
    doc = yaml.safe_load(render_prometheus_rules())
    [group] = doc["groups"]
    rules = group["rules"]
    policy = DEFAULT_POLICIES.alerts
    assert [r["alert"] for r in rules] == [r.name for r in policy.rules]
    actions = {e.level: e.action for e in policy.escalation_levels}
    for generated, rule in zip(rules, policy.rules, strict=True):
        assert parse_duration(generated["for"]) == rule.for_s
        assert generated["labels"]["escalation_level"] == str(rule.escalation_level)
        assert generated["labels"]["severity"] in {"info", "warning", "critical"}
        assert generated["annotations"]["summary"] == rule.summary
        assert actions[rule.escalation_level] in generated["annotations"]["description"]
        threshold = float(generated["expr"].rsplit(">", 1)[1])
        assert threshold == rule.threshold
        used = set(re.findall(r"orchestration_\w+", generated["expr"]))
        assert used, generated["expr"]
        assert {u.removesuffix("_bucket") for u in used} <= set(METRICS)


def test_expressions_name_the_seed_thresholds() -> None:
    by_name = {r["alert"]: r for r in prometheus_rules()["groups"][0]["rules"]}
    assert 'outcome="error"' in by_name["HighErrorRate"]["expr"]
    assert by_name["HighLatencyP95"]["expr"].startswith("histogram_quantile(0.95,")
    assert 'state="open"' in by_name["CircuitBreakerOpen"]["expr"]


def test_output_is_deterministic_and_marked_generated() -> None:
    first = render_prometheus_rules()
    assert first == render_prometheus_rules()
    assert first.startswith("# Generated from spec.policies.AlertPolicy")
    assert first.endswith("\n")


def test_custom_policies_and_unknown_metrics() -> None:
    rule = AlertRule(name="SlowP99", metric="latency_p99_seconds", threshold=1.5, for_s=90,
                     summary="p99 slow", escalation_level=4)
    doc = yaml.safe_load(render_prometheus_rules(AlertPolicy(rules=(rule,)), group="custom", window="2m"))
    [generated] = doc["groups"][0]["rules"]
    assert doc["groups"][0]["name"] == "custom"
    assert generated["for"] == "1m30s"
    assert generated["expr"].startswith("histogram_quantile(0.99,") and "[2m]" in generated["expr"]
    bad = AlertRule(name="X", metric="queue_depth", threshold=1, for_s=0, summary="s", escalation_level=1)
    with pytest.raises(PrometheusRulesError, match="'queue_depth' has no PromQL expression"):
        render_prometheus_rules(AlertPolicy(rules=(bad,)))


@given(st.integers(min_value=0, max_value=10**9))
def test_durations_round_trip(millis: int) -> None:
    text = promql_duration(millis / 1000)
    assert parse_duration(text) == pytest.approx(millis / 1000)
    with pytest.raises(ValueError, match="negative"):
        promql_duration(-1)


def test_command_line_writes_the_file(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from spec.render.prometheus_rules import main

    target = tmp_path / "alerts.rules.yml"
    assert main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == render_prometheus_rules()
    assert main([]) == 0
    assert capsys.readouterr().out == render_prometheus_rules()
    assert main([str(tmp_path / "missing" / "x.yml")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_annotations_carry_labels_value_and_a_runbook_link() -> None:
    """Issue 13: annotations name the series and its value, and link each rule's runbook section."""
    policy = DEFAULT_POLICIES.alerts
    for generated in prometheus_rules()["groups"][0]["rules"]:
        annotations = generated["annotations"]
        assert "{{ $labels }}" in annotations["description"] and "{{ $value }}" in annotations["description"]
        assert annotations["runbook_url"] == f"{policy.runbook_base_url}#{generated['alert'].lower()}"


def test_expansion_prints_labels_and_values_as_go_templates_do() -> None:
    from spec.render.alert_annotations import expand, expand_annotations, go_value

    rule = DEFAULT_POLICIES.alerts.rule("HighErrorRate")
    expanded = expand_annotations(rule, DEFAULT_POLICIES.alerts, {"service": "git", "operation": "push"}, 0.25)
    assert "is 0.25 " in expanded["description"] and "map[operation:push service:git]" in expanded["description"]
    assert expand("{{ $labels.service }}/{{$labels.missing}}", {"service": "git"}, 1.0) == "git/"
    assert [go_value(v) for v in (1.0, 2e-05, 1e21, 1e20, float("nan"), float("-inf"))] == [
        "1", "2e-05", "1e+21", "100000000000000000000", "NaN", "-Inf"
    ]


def test_the_rate_window_comes_from_the_policy() -> None:
    policy = DEFAULT_POLICIES.alerts.model_copy(update={"rate_window_s": 20.0})
    rule = prometheus_rules(policy)["groups"][0]["rules"][0]
    assert "[20s]" in rule["expr"]
