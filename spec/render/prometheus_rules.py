"""Prometheus alerting rules generated from the spec's alert policy (seed 4.5, "Alert Thresholds").

The runtime evaluates ``AlertPolicy`` itself (``runtime.monitoring.alerts``, on the values
``spec.decisions.alert_queries`` computes); this module writes the same rules as a Prometheus
rules file, so an operator who scrapes ``/metrics`` gets identical alerts from their own
Prometheus. Thresholds, durations (``for:``), summaries, escalation levels and the rate window
all come from the policy, the series names from ``spec.metrics`` and the annotations from
``spec.render.alert_annotations``; only the PromQL text of each spec metric is written here
(``spec.decisions.alert_queries`` lists it beside its Python counterpart).
"""

from __future__ import annotations

from typing import Any

import yaml

from spec.decisions.alert_queries import BREAKER_OPEN, TASK_SUCCESS, WORKER_DOWN
from spec.decisions.alert_rules import SEVERITY
from spec.errors import SpecError
from spec.metrics import (
    BREAKER_STATE,
    CALL_DURATION,
    CALLS,
    ERROR,
    FAST_FAIL,
    MEMORY_GROWTH,
    METRICS,
    RATE_WINDOW_S,
    RESOURCE_UTILISATION,
    TASKS_FINISHED,
    WORKERS,
    PrometheusMetric,
    latency_quantile,
)
from spec.policies import DEFAULT_POLICIES, AlertPolicy, AlertRule
from spec.render.alert_annotations import annotation_templates, promql_duration
from spec.render.output import write_output


class PrometheusRulesError(SpecError):
    """An alert rule reads a metric this generator has no PromQL for."""


def _number(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _expression(metric: str, threshold: float, window: str) -> str:
    return f"{rule_query(metric, window)}\n  > {_number(threshold)}"


def rule_query(metric: str, window: str = "1m") -> str:
    """The PromQL computing spec metric `metric` (what a rule compares with its threshold)."""
    if metric == "error_rate":
        return (
            f'sum by (service, operation) (rate({CALLS}{{outcome="{ERROR}"}}[{window}]))\n'
            f'  / sum by (service, operation) (rate({CALLS}{{outcome!="{FAST_FAIL}"}}[{window}]))'
        )
    quantile = latency_quantile(metric)
    if quantile is not None:
        return (
            f"histogram_quantile({_number(quantile)}, "
            f"sum by (service, operation, le) (rate({CALL_DURATION}_bucket[{window}])))"
        )
    if metric == "circuit_breaker_open":
        return f'max by (service) ({BREAKER_STATE}{{state="{BREAKER_OPEN}"}})'
    if metric == "resource_utilisation":
        return f"max by (worker_id, resource) ({RESOURCE_UTILISATION})"
    if metric == "task_failure_rate":
        return (
            f'sum by (task_type) (rate({TASKS_FINISHED}{{outcome!="{TASK_SUCCESS}"}}[{window}]))\n'
            f"  / sum by (task_type) (rate({TASKS_FINISHED}[{window}]))"
        )
    if metric == "workers_down":
        return f'sum({WORKERS}{{state="{WORKER_DOWN}"}})'
    if metric == "memory_growth":
        return f"max by (process) ({MEMORY_GROWTH})"
    raise PrometheusRulesError(
        f"alert rule metric {metric!r} has no PromQL expression; known metrics: error_rate, "
        "latency_pNN_seconds, circuit_breaker_open, resource_utilisation, task_failure_rate, workers_down, "
        "memory_growth"
    )


#: Range of the ``rate()`` windows of the default policy (``AlertPolicy.rate_window_s``): ``"1m"``.
DEFAULT_RATE_WINDOW = promql_duration(RATE_WINDOW_S)


def alert_rule(rule: AlertRule, policy: AlertPolicy, *, window: str | None = None) -> dict[str, Any]:
    """One Prometheus alerting rule for `rule`; `window` defaults to the policy's ``rate_window_s``."""
    window = window if window is not None else promql_duration(policy.rate_window_s)
    return {
        "alert": rule.name,
        "expr": _expression(rule.metric, rule.threshold, window),
        "for": promql_duration(rule.for_s),
        "labels": {
            "severity": SEVERITY[rule.escalation_level],
            "escalation_level": str(rule.escalation_level),
        },
        "annotations": annotation_templates(rule, policy),
    }


def prometheus_rules(
    policy: AlertPolicy = DEFAULT_POLICIES.alerts,
    *,
    group: str = "orchestration-spec",
    window: str | None = None,
) -> dict[str, Any]:
    """The rules file as data: one group holding one rule per ``AlertRule``, in policy order."""
    return {"groups": [{"name": group, "rules": [alert_rule(r, policy, window=window) for r in policy.rules]}]}


class _LiteralDumper(yaml.SafeDumper):
    """Writes multi-line strings (the PromQL) as ``|`` blocks so the file reads like hand-written rules."""


def _str_presenter(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_LiteralDumper.add_representer(str, _str_presenter)

HEADER = (
    "# Generated from spec.policies.AlertPolicy by spec.render.prometheus_rules; do not edit.\n"
    "# Thresholds and durations: seed 4.5 'Alert Thresholds'. Metric names: spec/metrics.py.\n"
)


def render_prometheus_rules(
    policy: AlertPolicy = DEFAULT_POLICIES.alerts,
    *,
    group: str = "orchestration-spec",
    window: str | None = None,
) -> str:
    """The Prometheus alerting-rules YAML for `policy`; byte-for-byte identical for equal input."""
    body = yaml.dump(
        prometheus_rules(policy, group=group, window=window),
        Dumper=_LiteralDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=1_000_000,
    )
    return HEADER + body


def main(argv: list[str] | None = None) -> int:
    """``python -m spec.render.prometheus_rules [FILE]``: write the rules file (stdout without FILE)."""
    return write_output(render_prometheus_rules(), argv)


__all__ = [
    "DEFAULT_RATE_WINDOW",
    "METRICS",
    "PrometheusMetric",
    "PrometheusRulesError",
    "alert_rule",
    "main",
    "prometheus_rules",
    "promql_duration",
    "render_prometheus_rules",
    "rule_query",
]


if __name__ == "__main__":
    raise SystemExit(main())
