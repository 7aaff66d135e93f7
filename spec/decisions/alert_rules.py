"""When an alert rule's series is pending, firing or resolved: Prometheus's ``for:`` semantics, sans I/O.

Each ``AlertRule`` of ``AlertPolicy`` runs the spec's ``alert_rule`` machine once per labelled
series (one per service, say). One evaluation at `now` gives each rule the value of its spec
metric per series (an instant vector, as Prometheus evaluates the rule's expression):

- a series above the threshold starts ``pending`` (``activeAt`` is `now`); a pending series is
  promoted to ``firing`` only by an evaluation that still sees it above the threshold, once
  ``for_s`` has passed since ``activeAt``;
- a series at or below the threshold, NaN, or absent from the vector (no data in the window)
  clears at once.

:meth:`AlertRules.evaluate_vector` takes a whole vector (series not in it are absent);
:meth:`AlertRules.observe` takes one sample of a gauge-like metric, and :meth:`AlertRules.evaluate`
lets time pass: a series whose latest sample is older than the policy's ``lookback_s`` (Prometheus'
lookback delta) is absent and clears; a fresh breaching sample promotes a pending series.
Nothing here logs, sleeps or reads a clock: the caller passes `now`, and receives the changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from spec.decisions.promql import Labels, labels_of
from spec.machine import MachineInstance, TransitionRecord
from spec.machines import MACHINES
from spec.machines.alerting import AlertRuleState, AlertRuleTrigger
from spec.policies import DEFAULT_POLICIES, AlertPolicy, AlertRule
from spec.trace import TraceEvent

_MACHINE = MACHINES["alert_rule"]
#: State names, the spec machine's own.
INACTIVE, PENDING, FIRING = AlertRuleState.INACTIVE, AlertRuleState.PENDING, AlertRuleState.FIRING
T = AlertRuleTrigger

#: Severity label per escalation level (Alertmanager routes on it); the rules file uses the same.
SEVERITY = {1: "info", 2: "warning", 3: "critical", 4: "critical"}


def go_float(value: float) -> str:
    """`value` as Prometheus's API writes sample values (Go's ``FormatFloat(v, 'e', -1, 64)``)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0e+00"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    power = exponent + len(text) - 1
    return f"{'-' if sign else ''}{mantissa}e{'+' if power >= 0 else '-'}{abs(power):02d}"


@dataclass(frozen=True)
class Sample:
    """One observation of a spec metric (``AlertRule.metric``) for one labelled series."""

    metric: str
    value: float
    at: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AlertChange:
    """A rule's series changed state: pending, firing or back to inactive."""

    rule: AlertRule
    labels: Labels
    trigger: str
    source: str
    dest: str
    at: float
    value: float


@dataclass(frozen=True)
class AlertStatus:
    """Where one rule's series stands now (what an alerts endpoint shows)."""

    rule: AlertRule
    labels: Labels
    state: str
    value: float
    since: float | None
    last_sample_at: float

    def to_json(self) -> dict[str, Any]:
        """The spec's own view: threshold, duration and escalation level beside the state."""
        return {
            "alert": self.rule.name,
            "labels": dict(self.labels),
            "state": self.state,
            "value": self.value,
            "threshold": self.rule.threshold,
            "forSeconds": self.rule.for_s,
            "since": self.since,
            "summary": self.rule.summary,
            "escalationLevel": self.rule.escalation_level,
        }

    def prometheus_labels(self) -> dict[str, str]:
        """The alert's labels as Prometheus gives them: the series' own, ``alertname``, the rule's."""
        return {
            **dict(self.labels),
            "alertname": self.rule.name,
            "severity": SEVERITY[self.rule.escalation_level],
            "escalation_level": str(self.rule.escalation_level),
        }


class _Series:
    """One rule on one labelled series: its machine and the breach's start time."""

    def __init__(self, rule: AlertRule, labels: Labels, run: MachineInstance) -> None:
        self.rule = rule
        self.labels = labels
        self.run = run
        self.value = 0.0
        self.breach_since: float | None = None
        self.last_at = -math.inf


class _Run:
    """Model object for one bound ``alert_rule`` machine."""


class AlertRules:
    """Every rule of an :class:`AlertPolicy`, evaluated on the values the caller computes.

    `listener` hears every change as it happens (after the series' machine moved); `trace_sink`
    receives one trace event per machine transition, ``record`` included.
    """

    def __init__(
        self,
        policy: AlertPolicy = DEFAULT_POLICIES.alerts,
        *,
        trace_sink: Callable[[TraceEvent], None] | None = None,
        listener: Callable[[AlertChange], None] | None = None,
    ) -> None:
        self.policy = policy
        self.trace_sink = trace_sink
        self.listener = listener
        self._series: dict[tuple[str, Labels], _Series] = {}
        self._rules_by_metric: dict[str, list[AlertRule]] = {}
        for rule in policy.rules:
            self._rules_by_metric.setdefault(rule.metric, []).append(rule)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The metric names the policy's rules read."""
        return tuple(self._rules_by_metric)

    def _rules(self, metric: str) -> list[AlertRule]:
        rules = self._rules_by_metric.get(metric)
        if rules is None:
            known = ", ".join(sorted(self._rules_by_metric))
            raise KeyError(f"no alert rule reads metric {metric!r}; rules read: {known}")
        return rules

    def observe(
        self, metric: str, value: float, *, at: float, labels: Mapping[str, str] | None = None
    ) -> list[AlertChange]:
        """One sample of `metric` at `at` for one series; every rule reading it is evaluated on it."""
        key_labels = labels_of(labels)
        changes: list[AlertChange] = []
        for rule in self._rules(metric):
            series = self._series_for(rule, key_labels)
            if at < series.last_at:
                raise ValueError(
                    f"sample of {metric!r} at {at} is older than the previous one ({series.last_at}); "
                    "samples of one series must arrive in time order"
                )
            self._present(series, float(value), at, changes)
        return changes

    def observe_sample(self, sample: Sample) -> list[AlertChange]:
        return self.observe(sample.metric, sample.value, at=sample.at, labels=sample.labels)

    def run(self, samples: Iterable[Sample]) -> list[AlertChange]:
        """Replay a whole time series (in time order) and return every change it caused."""
        changes: list[AlertChange] = []
        for sample in samples:
            changes.extend(self.observe_sample(sample))
        return changes

    def evaluate_vector(self, metric: str, vector: Mapping[Labels, float], *, at: float) -> list[AlertChange]:
        """One evaluation of every rule reading `metric`: `vector` holds every series that has a value.

        Series this evaluator knows but `vector` lacks had no data (an empty rate window, a
        division by no traffic): they clear, and are forgotten once inactive.
        """
        changes: list[AlertChange] = []
        for rule in self._rules(metric):
            for labels, value in sorted(vector.items()):
                self._present(self._series_for(rule, labels), float(value), at, changes)
            for key in [k for k in self._series if k[0] == rule.name and k[1] not in vector]:
                series = self._series[key]
                if series.run.state != INACTIVE:
                    self._fire(series, T.CLEAR, at, changes)
                    series.breach_since = None
                del self._series[key]
        return changes

    def evaluate(self, at: float) -> list[AlertChange]:
        """Let time pass: stale series clear; a fresh, breaching pending series fires after ``for_s``."""
        changes: list[AlertChange] = []
        for series in self._series.values():
            if series.run.state == INACTIVE or at < series.last_at:
                continue
            if at - series.last_at > self.policy.lookback_s:
                series.breach_since = None
                self._fire(series, T.CLEAR, at, changes)
            elif series.run.state == PENDING:
                self._check_sustained(series, at, changes)
        return changes

    def statuses(self) -> list[AlertStatus]:
        """Every series seen so far, sorted by rule and labels."""
        return [
            AlertStatus(s.rule, s.labels, s.run.state, s.value, s.breach_since, s.last_at)
            for _, s in sorted(self._series.items())
        ]

    def firing(self) -> list[AlertStatus]:
        return [s for s in self.statuses() if s.state == FIRING]

    # -- internals --------------------------------------------------------------------------

    def _series_for(self, rule: AlertRule, labels: Labels) -> _Series:
        key = (rule.name, labels)
        series = self._series.get(key)
        if series is None:
            series = _Series(rule, labels, _MACHINE.bind(_Run()))
            self._series[key] = series
        return series

    def _present(self, series: _Series, value: float, at: float, changes: list[AlertChange]) -> None:
        series.last_at = at
        series.value = value
        self._fire(series, T.RECORD, at, changes)
        if value > series.rule.threshold:  # NaN compares false: no breach
            if series.run.state == INACTIVE:
                series.breach_since = at
                self._fire(series, T.BREACH, at, changes)
            self._check_sustained(series, at, changes)
        elif series.run.state != INACTIVE:
            series.breach_since = None
            self._fire(series, T.CLEAR, at, changes)

    def _check_sustained(self, series: _Series, at: float, changes: list[AlertChange]) -> None:
        since = series.breach_since
        if series.run.state == PENDING and since is not None and at - since >= series.rule.for_s:
            self._fire(series, T.SUSTAINED, at, changes)

    def _fire(self, series: _Series, trigger: str, at: float, changes: list[AlertChange]) -> None:
        record: TransitionRecord = series.run.fire(trigger)
        if self.trace_sink is not None:
            component = "alert:" + series.rule.name + "".join(f",{k}={v}" for k, v in series.labels)
            value = series.value if math.isfinite(series.value) else None
            self.trace_sink(
                TraceEvent.from_record(record, time=max(0.0, at), component=component, data={"value": value})
            )
        if record.source == record.dest:
            return
        change = AlertChange(series.rule, series.labels, trigger, record.source, record.dest, at, series.value)
        changes.append(change)
        if self.listener is not None:
            self.listener(change)


__all__ = [
    "FIRING",
    "INACTIVE",
    "PENDING",
    "SEVERITY",
    "AlertChange",
    "AlertRules",
    "AlertStatus",
    "Sample",
    "go_float",
]
