"""Directives for the monitoring page: the exported series and the generated alerting rules.

Both read ``spec`` (``spec.metrics.METRICS``, ``spec.render.prometheus_rules``), so the page
shows exactly what the orchestrator exports on ``/metrics`` and what an operator loads into
Prometheus, and a renamed series or a changed threshold changes the page with it.
"""

from __future__ import annotations

from spec.metrics import METRICS
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
