"""Monitoring (seed 4.5, "Monitoring and Alerting"): alert rules evaluated from the spec's thresholds."""

from __future__ import annotations

from runtime.monitoring.alerts import (
    FIRING,
    INACTIVE,
    PENDING,
    AlertChange,
    AlertEvaluator,
    AlertStatus,
    CallWindow,
    Sample,
    escalate_firing,
    watch_breakers,
)

__all__ = [
    "FIRING",
    "INACTIVE",
    "PENDING",
    "AlertChange",
    "AlertEvaluator",
    "AlertStatus",
    "CallWindow",
    "Sample",
    "escalate_firing",
    "watch_breakers",
]
