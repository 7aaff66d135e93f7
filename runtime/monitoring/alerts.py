"""Alert rules evaluated from the spec's thresholds (seed 4.5, "Alert Thresholds") — the runtime's driver.

The decisions are the spec's: ``spec.decisions.alert_rules`` says when a series is pending,
firing or resolved (Prometheus's ``for:``), and ``spec.decisions.alert_queries`` computes each
rule's metric from scraped samples as the generated PromQL does. This module adds what needs the
process: a :class:`SelfScrape` that samples the orchestrator's own registry at the evaluation
clock, logging of alerts that start firing, escalation, and the breaker watch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry

from runtime.resilience.circuit_breaker import OPEN, BreakerRegistry, StateChange
from runtime.resilience.escalation import EscalationOutcome, Escalator
from spec.decisions.alert_queries import SCRAPED, rule_vectors
from spec.decisions.alert_rules import (
    FIRING,
    INACTIVE,
    PENDING,
    AlertChange,
    AlertRules,
    AlertStatus,
    Sample,
)
from spec.decisions.promql import ScrapedSeries, labels_of
from spec.policies import DEFAULT_POLICIES, AlertPolicy
from spec.trace import TraceEvent

log = logging.getLogger("runtime.monitoring.alerts")


class AlertEvaluator(AlertRules):
    """The spec's :class:`~spec.decisions.alert_rules.AlertRules`, logging each series that starts firing.

    ``observe``, ``evaluate_vector`` and ``evaluate`` return the state changes they caused; pass
    those to :func:`escalate_firing` to escalate newly firing alerts.
    """

    def __init__(
        self,
        policy: AlertPolicy = DEFAULT_POLICIES.alerts,
        *,
        trace_sink: Callable[[TraceEvent], None] | None = None,
        listener: Callable[[AlertChange], None] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        super().__init__(policy, trace_sink=trace_sink, listener=self._log_then_notify)
        self.user_listener = listener
        self.logger = logger if logger is not None else log

    def _log_then_notify(self, change: AlertChange) -> None:
        if change.dest == FIRING:
            rule = change.rule
            self.logger.warning(
                "alert %s firing: %s (value %s > %s for %s s; labels %s)",
                rule.name, rule.summary, change.value, rule.threshold, rule.for_s, dict(change.labels),
                extra={"alert": rule.name, "labels": dict(change.labels)},
            )
        if self.user_listener is not None:
            self.user_listener(change)


class SelfScrape:
    """The orchestrator "scraping" its own registry, as Prometheus would, for its own evaluation.

    Each :meth:`evaluate` samples the series the rules read at the evaluation clock's `now`, keeps
    them for the rate window (bounded per series), and evaluates every rule on the vectors
    ``spec.decisions.alert_queries`` computes: the same values a Prometheus server scraping
    ``/metrics`` and loading the generated rules would compute.
    """

    def __init__(self, registry: CollectorRegistry, evaluator: AlertRules) -> None:
        self.registry = registry
        self.evaluator = evaluator
        policy = evaluator.policy
        self.store = ScrapedSeries(max(policy.rate_window_s, policy.lookback_s))
        self._wanted = frozenset(SCRAPED)

    def scrape(self, at: float) -> None:
        self.store.scraped(at, (
            (sample.name, labels_of(sample.labels), sample.value)
            for family in self.registry.collect()
            for sample in family.samples
            if sample.name in self._wanted and not math.isnan(sample.value)
        ))

    def evaluate(self, at: float, metrics: Iterable[str] | None = None) -> list[AlertChange]:
        """Scrape, then evaluate the rules reading `metrics` (every rule by default)."""
        self.scrape(at)
        vectors = rule_vectors(self.evaluator.policy, self.store, at)
        wanted = set(vectors) if metrics is None else set(metrics)
        changes: list[AlertChange] = []
        for metric, vector in vectors.items():
            if metric in wanted:
                changes.extend(self.evaluator.evaluate_vector(metric, vector, at=at))
        return changes


async def escalate_firing(changes: Iterable[AlertChange], escalator: Escalator) -> list[EscalationOutcome]:
    """Escalate every change that started firing, at its rule's escalation level."""
    outcomes: list[EscalationOutcome] = []
    for change in changes:
        if change.dest != FIRING or change.source == FIRING:
            continue
        value = change.value if math.isfinite(change.value) else None
        outcomes.append(
            await escalator.escalate(
                change.rule.escalation_level,
                change.rule.summary,
                source=f"alert:{change.rule.name}",
                details={"labels": dict(change.labels), "value": value, "threshold": change.rule.threshold},
            )
        )
    return outcomes


#: The spec metric an open breaker is reported as (the ``CircuitBreakerOpen`` rule reads it).
BREAKER_OPEN_METRIC = "circuit_breaker_open"


def watch_breakers(registry: BreakerRegistry, evaluator: AlertRules) -> Callable[[], list[AlertChange]]:
    """Report every breaker of `registry` to `evaluator` as ``circuit_breaker_open`` (1 open, 0 not).

    For an evaluator without a self-scrape (a test, a library user). Existing breakers are
    reported at once; later state changes as they happen. Returns a function that reports the
    current states again (for a periodic evaluation) and returns the changes.
    """

    def on_change(change: StateChange) -> None:
        evaluator.observe(
            BREAKER_OPEN_METRIC, 1.0 if change.dest == OPEN else 0.0, at=change.at, labels={"service": change.service}
        )

    def report_all() -> list[AlertChange]:
        changes: list[AlertChange] = []
        for breaker in registry:
            changes.extend(
                evaluator.observe(
                    BREAKER_OPEN_METRIC,
                    1.0 if breaker.state == OPEN else 0.0,
                    at=registry.clock.now(),
                    labels={"service": breaker.service},
                )
            )
        return changes

    if BREAKER_OPEN_METRIC not in evaluator.metrics:
        raise KeyError(f"the alert policy has no rule reading {BREAKER_OPEN_METRIC!r}; nothing would watch breakers")
    registry.on_state_change(on_change)
    report_all()
    return report_all


__all__ = [
    "BREAKER_OPEN_METRIC",
    "FIRING",
    "INACTIVE",
    "PENDING",
    "AlertChange",
    "AlertEvaluator",
    "AlertStatus",
    "Sample",
    "SelfScrape",
    "escalate_firing",
    "watch_breakers",
]
