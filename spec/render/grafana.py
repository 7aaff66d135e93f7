"""A Grafana dashboard generated from ``spec/metrics.py`` and the alert policy (issue 13).

``python -m spec.render.grafana [FILE]`` writes the dashboard JSON (stdout without FILE), ready
for Grafana's "Import dashboard" or a provisioning directory, as celery-mixin ships one for
Celery. The first row shows each alert rule's query with its threshold drawn on the panel (the
same PromQL ``spec.render.prometheus_rules`` writes); then one panel per declared series:
counters as per-second rates, histograms as their p50/p95/p99, gauges as they are. Every query
names only series ``spec.metrics.METRICS`` declares, so a renamed series renames its panel too.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from spec.metrics import METRICS, PrometheusMetric
from spec.policies import DEFAULT_POLICIES, AlertPolicy
from spec.render.prometheus_rules import rule_query

#: Grafana's own range for rate(): at least four scrape intervals, whatever the dashboard's step.
RATE = "$__rate_interval"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_WIDTH, _HEIGHT, _PER_ROW = 12, 8, 2
_UNITS = {"_seconds": "s", "_ratio": "percentunit", "_total": "ops"}


def _unit(metric: PrometheusMetric) -> str:
    for suffix, unit in _UNITS.items():
        if metric.name.endswith(suffix):
            return unit
    return "short"


def _legend(labels: tuple[str, ...]) -> str:
    return " ".join(f"{{{{{label}}}}}" for label in labels) or "__auto"


def metric_targets(metric: PrometheusMetric) -> list[dict[str, Any]]:
    """The queries of one series' panel."""
    by = ", ".join(metric.labels)
    if metric.kind == "counter":
        expr = f"sum by ({by}) (rate({metric.name}[{RATE}]))" if by else f"sum(rate({metric.name}[{RATE}]))"
        return [{"expr": expr, "legendFormat": _legend(metric.labels), "refId": "A"}]
    if metric.kind == "histogram":
        grouping = ", ".join(("le", *metric.labels))
        return [
            {
                "expr": f"histogram_quantile({q}, sum by ({grouping}) (rate({metric.name}_bucket[{RATE}])))",
                "legendFormat": f"p{round(q * 100)} " + _legend(metric.labels),
                "refId": ref,
            }
            for q, ref in ((0.5, "A"), (0.95, "B"), (0.99, "C"))
        ]
    return [{"expr": metric.name, "legendFormat": _legend(metric.labels), "refId": "A"}]


def _panel(panel_id: int, title: str, description: str, targets: list[dict[str, Any]], unit: str,
           position: int, row_y: int, threshold: float | None = None) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if threshold is not None:
        steps.append({"color": "red", "value": threshold})
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"h": _HEIGHT, "w": _WIDTH, "x": (position % _PER_ROW) * _WIDTH,
                    "y": row_y + (position // _PER_ROW) * _HEIGHT},
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "thresholds": {"mode": "absolute", "steps": steps},
                "custom": {"thresholdsStyle": {"mode": "line" if threshold is not None else "off"}},
            },
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}, "tooltip": {"mode": "multi"}},
        "targets": [{**t, "datasource": DATASOURCE} for t in targets],
    }


def _row(panel_id: int, title: str, y: int) -> dict[str, Any]:
    return {"id": panel_id, "type": "row", "title": title, "collapsed": False, "panels": [],
            "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}}


def dashboard(policy: AlertPolicy = DEFAULT_POLICIES.alerts) -> dict[str, Any]:
    """The dashboard as data."""
    panels: list[dict[str, Any]] = []
    ids = iter(range(1, 10_000))
    y = 0
    panels.append(_row(next(ids), "Alert rules", y))
    y += 1
    for i, rule in enumerate(policy.rules):
        targets = [{"expr": rule_query(rule.metric, RATE), "legendFormat": "__auto", "refId": "A"}]
        unit = "s" if rule.metric.endswith("_seconds") else "percentunit" if "rate" in rule.metric else "short"
        panels.append(_panel(next(ids), rule.name, f"{rule.summary}: fires above the red line for {rule.for_s:g} s.",
                             targets, unit, i, y, threshold=rule.threshold))
    y += -(-len(policy.rules) // _PER_ROW) * _HEIGHT
    panels.append(_row(next(ids), "Series", y))
    y += 1
    for i, metric in enumerate(METRICS.values()):
        panels.append(_panel(next(ids), metric.name, metric.help, metric_targets(metric), _unit(metric), i, y))
    return {
        "title": "Orchestration",
        "uid": "orchestration-spec",
        "tags": ["orchestration-spec", "generated"],
        "description": "Generated from spec/metrics.py and spec.policies.AlertPolicy by spec.render.grafana.",
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "templating": {"list": [{"name": "datasource", "label": "Prometheus", "type": "datasource",
                                 "query": "prometheus", "current": {}, "hide": 0}]},
        "annotations": {"list": []},
        "panels": panels,
    }


def render_dashboard(policy: AlertPolicy = DEFAULT_POLICIES.alerts) -> str:
    """The dashboard JSON, byte-for-byte identical for equal input."""
    return json.dumps(dashboard(policy), indent=2, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``python -m spec.render.grafana [FILE]``: write the dashboard (stdout without FILE)."""
    args = sys.argv[1:] if argv is None else argv
    text = render_dashboard()
    if not args:
        sys.stdout.write(text)
        return 0
    try:
        with open(args[0], "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as exc:
        sys.stderr.write(f"cannot write {args[0]}: {exc.strerror}\n")
        return 1
    return 0


__all__ = ["dashboard", "main", "metric_targets", "render_dashboard"]


if __name__ == "__main__":
    raise SystemExit(main())
