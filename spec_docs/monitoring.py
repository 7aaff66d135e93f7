"""Directives for the monitoring page: the exported series and the generated alerting rules.

Both read ``spec`` (``spec.metrics.METRICS``, ``spec.render.prometheus_rules``), so the page
shows exactly what the orchestrator exports on ``/metrics`` and what an operator loads into
Prometheus, and a renamed series or a changed threshold changes the page with it.
"""

from __future__ import annotations

import json
from pathlib import Path

from spec.decisions.alert_queries import BREAKER_OPEN
from spec.decisions.alert_rules import FIRING, AlertStatus
from spec.decisions.promql import labels_of
from spec.metrics import METRICS
from spec.metrics import call_duration_buckets as call_buckets
from spec.policies import DEFAULT_POLICIES
from spec.render.alert_annotations import alerts_api_entry
from spec.render.grafana import dashboard, render_dashboard
from spec.render.prometheus_rules import prometheus_rules as rules_data
from spec.render.prometheus_rules import render_prometheus_rules
from spec_docs.formatting import code, table
from spec_docs.registry import directive


@directive
def prometheus_rules(group: str = "orchestration-spec") -> str:
    """The Prometheus alerting-rules file generated from the alert policy, as a YAML block.

    The same text ``python -m spec.render.prometheus_rules FILE`` writes.
    """
    return f"```yaml\n{render_prometheus_rules(group=group).rstrip()}\n```"


@directive
def prometheus_metrics() -> str:
    """A table of every series the orchestrator exports on ``/metrics``, and the alert rules reading it."""
    readers: dict[str, list[str]] = {name: [] for name in METRICS}
    for rule in rules_data()["groups"][0]["rules"]:
        for name in METRICS:
            if name in rule["expr"]:
                readers[name].append(rule["alert"])
    rows = [
        (code(m.name), m.kind, ", ".join(m.labels) or "—", m.help, ", ".join(readers[m.name]) or "—")
        for m in METRICS.values()
    ]
    return table(("Series", "Type", "Labels", "Meaning", "Read by"), rows)


@directive
def call_duration_buckets() -> str:
    """The call-duration histogram's bucket edges, as ``spec.metrics.call_duration_buckets`` derives them."""
    edges = [f"{b:g} s" for b in call_buckets() if b != float("inf")]
    return ", ".join(edges) + " and `+Inf`"


#: Where the docs build writes the dashboard, relative to docs_dir (the monitoring page links it).
DASHBOARD_FILE = "monitoring/grafana-dashboard.json"


def write_dashboard(docs_dir: Path) -> Path:
    """Write the generated dashboard into `docs_dir` so the site serves it (run from ``on_config``)."""
    path = docs_dir / DASHBOARD_FILE
    text = render_dashboard()
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return path


@directive
def grafana_dashboard() -> str:
    """The generated Grafana dashboard: its panels and their queries, and a link to the JSON to import."""
    doc = dashboard()
    rows = [
        (p["title"], "<br>".join(code(t["expr"]) for t in p["targets"]))
        for p in doc["panels"] if p["type"] != "row"
    ]
    link = f"[`grafana-dashboard.json`]({DASHBOARD_FILE}) (what `python -m spec.render.grafana` writes)"
    return f"Download: {link}.\n\n" + table(("Panel", "Queries"), rows)


@directive
def alerts_api_example(rule: str = "CircuitBreakerOpen", service: str = "git-platform") -> str:
    """An example ``GET /api/v1/alerts`` answer: `rule` firing for `service`, built as the endpoint builds it."""
    policy = DEFAULT_POLICIES.alerts
    status = AlertStatus(policy.rule(rule), labels_of({"service": service}), FIRING, 1.0, 0.0, 0.0)
    body = {"status": "success", "data": {
        "alerts": [alerts_api_entry(status, policy, "2026-12-07T12:00:03.512Z")],
        "breakers": {service: BREAKER_OPEN},
    }}
    return "```json\n" + json.dumps(body, indent=2) + "\n```"
