"""What the orchestrator's monitoring showed at the end of a demo run: ``metrics.txt`` and ``alerts.json``.

Every run saves the final ``GET /metrics`` scrape and the ``GET /api/v1/alerts`` answer into its
output directory, taken while the workers are still in rotation (their breakers still count),
so a reader can see what Prometheus would have scraped and which alerts were raised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from runtime.demo.alerts import AlertSeen, read_alerts
from runtime.demo.errors import DemoError

METRICS_FILE = "metrics.txt"
ALERTS_FILE = "alerts.json"


@dataclass
class Observations:
    """The saved files, and the alerts read from the answer."""

    metrics: Path
    alerts_file: Path
    alerts: list[AlertSeen] = field(default_factory=list)


async def save_observations(http: httpx.AsyncClient, out_dir: Path) -> Observations:
    """Scrape ``/metrics`` and ask ``/api/v1/alerts``; write both as they were answered."""
    try:
        metrics = await http.get("/metrics")
        alerts = await http.get("/api/v1/alerts")
    except httpx.HTTPError as exc:
        raise DemoError(f"cannot read the orchestrator's metrics and alerts: {type(exc).__name__}: {exc}") from None
    for response in (metrics, alerts):
        if response.status_code != 200:
            raise DemoError(f"GET {response.request.url.path} answered HTTP {response.status_code}: "
                            f"{response.text[:200]}")
    saved = Observations(out_dir / METRICS_FILE, out_dir / ALERTS_FILE)
    saved.metrics.write_text(metrics.text, encoding="utf-8")
    body = alerts.json()
    saved.alerts_file.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    saved.alerts = read_alerts(body)
    return saved


__all__ = ["ALERTS_FILE", "METRICS_FILE", "Observations", "save_observations"]
