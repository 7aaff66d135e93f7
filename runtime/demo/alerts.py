"""Reading the orchestrator's ``GET /api/v1/alerts`` answer, for the demo's printout and its tests.

The answer has Prometheus's alerts-API shape, ``{"status": "success", "data": {"alerts": [{"labels":
{"alertname": ..., "severity": ...}, "annotations": {...}, "state": ..., "activeAt": ..., "value": ...}]}}``.
The orchestrator's earlier shape, ``{"alerts": [{"alert": ..., "labels": {...}, "state": ...}]}``,
is still read so the demo works against either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.demo.errors import DemoError
from spec.machines.alerting import AlertRuleState


@dataclass(frozen=True)
class AlertSeen:
    """One alert series of the answer: its rule, labels (without ``alertname``) and state."""

    name: str
    labels: dict[str, str]
    state: str
    summary: str = ""

    def describe(self) -> str:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        return f"{self.name} [{self.state}] {{{labels}}}" + (f": {self.summary}" if self.summary else "")


def _alert_list(body: Any) -> list[Any]:
    if isinstance(body, dict):
        data = body.get("data")
        if isinstance(data, dict) and isinstance(data.get("alerts"), list):
            return list(data["alerts"])  # Prometheus's shape
        if isinstance(body.get("alerts"), list):
            return list(body["alerts"])  # the orchestrator's earlier shape
    raise DemoError("GET /api/v1/alerts: expected {'status', 'data': {'alerts': [...]}}, got "
                    f"{str(body)[:200]}")


def read_alerts(body: Any) -> list[AlertSeen]:
    """Every alert series in an ``/api/v1/alerts`` answer; a :class:`DemoError` says what is malformed."""
    seen: list[AlertSeen] = []
    for index, entry in enumerate(_alert_list(body)):
        if not isinstance(entry, dict) or not isinstance(entry.get("labels"), dict):
            raise DemoError(f"GET /api/v1/alerts: alert {index} has no 'labels' object")
        labels = {str(k): str(v) for k, v in entry["labels"].items()}
        name = labels.pop("alertname", None) or entry.get("alert")
        if not isinstance(name, str) or not name:
            raise DemoError(f"GET /api/v1/alerts: alert {index} has no labels.alertname")
        annotations = entry.get("annotations")
        summary = annotations.get("summary") if isinstance(annotations, dict) else entry.get("summary")
        seen.append(AlertSeen(name, labels, str(entry.get("state", "")), str(summary or "")))
    return seen


def firing(alerts: list[AlertSeen], name: str | None = None) -> list[AlertSeen]:
    """The firing series (of rule `name`, when given)."""
    return [a for a in alerts if a.state == AlertRuleState.FIRING and (name is None or a.name == name)]


__all__ = ["AlertSeen", "firing", "read_alerts"]
