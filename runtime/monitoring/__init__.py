"""Monitoring (seed 4.5, "Monitoring and Alerting"; issue 4 §2).

Alert rules evaluated from the spec's thresholds (:mod:`~runtime.monitoring.alerts`), the
orchestrator's Prometheus metrics (:mod:`~runtime.monitoring.metrics`), the service tying them
to breakers, tasks and the store (:mod:`~runtime.monitoring.service`), and structured, redacted
logs (:mod:`~runtime.monitoring.logs`). The HTTP side lives in :mod:`~runtime.monitoring.api`,
:mod:`~runtime.monitoring.http_metrics` and :mod:`~runtime.monitoring.request_ids`.
"""

from __future__ import annotations

from runtime.monitoring.alerts import (
    FIRING,
    INACTIVE,
    PENDING,
    AlertChange,
    AlertEvaluator,
    AlertStatus,
    Sample,
    SelfScrape,
    escalate_firing,
    watch_breakers,
)
from runtime.monitoring.logs import (
    REDACTOR,
    JsonFormatter,
    RedactingFilter,
    Redactor,
    TextFormatter,
    bind_ids,
    configure_logging,
)
from runtime.monitoring.metrics import OrchestratorMetrics
from runtime.monitoring.service import MonitoredService, MonitoringService

__all__ = [
    "FIRING",
    "INACTIVE",
    "PENDING",
    "REDACTOR",
    "AlertChange",
    "AlertEvaluator",
    "AlertStatus",
    "JsonFormatter",
    "MonitoredService",
    "MonitoringService",
    "OrchestratorMetrics",
    "RedactingFilter",
    "Redactor",
    "Sample",
    "SelfScrape",
    "TextFormatter",
    "bind_ids",
    "configure_logging",
    "escalate_firing",
    "watch_breakers",
]
