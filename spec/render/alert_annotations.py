"""Annotations of the alert rules: templates for Prometheus, expanded alike by the orchestrator.

Prometheus expands ``{{ $labels }}`` and ``{{ $value }}`` in a rule's annotations with the Go
template engine each time it evaluates the rule; the orchestrator's ``/api/v1/alerts`` answers
the same annotations, expanded by :func:`expand_annotations` for exactly the template actions
used here (the series' labels as Go prints a map, the value as Go prints a float64, one label
by ``{{ $labels.name }}``). Each rule's ``runbook_url`` points to its section of the runbooks
page (``AlertPolicy.runbook_base_url``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from spec.decisions.alert_rules import AlertStatus, go_float
from spec.policies import AlertPolicy, AlertRule

_ACTION = re.compile(r"\{\{\s*\$(labels|value)(?:\.(\w+))?\s*\}\}")


def runbook_anchor(rule: AlertRule) -> str:
    """The rule's section id on the runbooks page: its name in lower case."""
    return rule.name.lower()


def _number(value: float) -> str:
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def promql_duration(seconds: float) -> str:
    """A Prometheus duration for `seconds`: ``300 → "5m"``, ``5400 → "1h30m"``, ``0 → "0s"``."""
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {seconds}")
    millis = round(seconds * 1000)
    if millis == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)):
        count, millis = divmod(millis, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def annotation_templates(rule: AlertRule, policy: AlertPolicy) -> dict[str, str]:
    """The annotations of `rule` as templates (what the generated rules file carries)."""
    action = next(e.action for e in policy.escalation_levels if e.level == rule.escalation_level)
    return {
        "summary": rule.summary,
        "description": (
            f"{rule.metric} is {{{{ $value }}}} (threshold {_number(rule.threshold)}, "
            f"for {promql_duration(rule.for_s)}) on {{{{ $labels }}}}; "
            f"escalation level {rule.escalation_level}: {action}."
        ),
        "runbook_url": f"{policy.runbook_base_url}#{runbook_anchor(rule)}",
    }


def go_value(value: float) -> str:
    """`value` as Go's ``%v`` prints a float64 (what ``{{ $value }}`` gives)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    exponent = math.floor(math.log10(abs(value))) if value else 0
    if -4 <= exponent < 21:
        text = repr(float(value))
        if "e" in text:  # Python switches to exponents earlier than Go does
            text = format(value, "f").rstrip("0").rstrip(".")
        return text[:-2] if text.endswith(".0") else text
    return repr(float(value))  # both use the shortest digits and a signed, two-digit exponent here


def go_map(labels: Mapping[str, str]) -> str:
    """`labels` as Go prints a ``map[string]string``: ``map[k1:v1 k2:v2]``, keys sorted."""
    return "map[" + " ".join(f"{k}:{labels[k]}" for k in sorted(labels)) + "]"


def expand(template: str, labels: Mapping[str, str], value: float) -> str:
    """`template` with its ``{{ $labels }}``, ``{{ $labels.name }}`` and ``{{ $value }}`` actions expanded."""

    def action(match: re.Match[str]) -> str:
        if match.group(1) == "value":
            return go_value(value)
        name = match.group(2)
        return go_map(labels) if name is None else labels.get(name, "")

    return _ACTION.sub(action, template)


def expand_annotations(
    rule: AlertRule, policy: AlertPolicy, labels: Mapping[str, str], value: float
) -> dict[str, str]:
    """The annotations of `rule` for one series, as Prometheus's alerts API shows them."""
    return {key: expand(text, labels, value) for key, text in annotation_templates(rule, policy).items()}


def alerts_api_entry(status: AlertStatus, policy: AlertPolicy, active_at: str) -> dict[str, object]:
    """One entry of ``data.alerts`` in Prometheus's alerts-API shape; `active_at` is RFC 3339."""
    return {
        "labels": status.prometheus_labels(),
        "annotations": expand_annotations(status.rule, policy, dict(status.labels), status.value),
        "state": status.state,
        "activeAt": active_at,
        "value": go_float(status.value),
    }


__all__ = [
    "alerts_api_entry",
    "annotation_templates",
    "expand",
    "expand_annotations",
    "go_map",
    "go_value",
    "promql_duration",
    "runbook_anchor",
]
