"""The spec's alert evaluation agrees with Prometheus's own engine on the same samples (issue 13).

Each case writes the generated rules file and a ``promtool test rules`` unit test whose input
series are the case's scrapes and whose expected alerts (labels and expanded annotations, at
every evaluation) are what ``spec.decisions.alert_rules`` + ``alert_queries`` decide on the same
samples. promtool evaluates the rules with Prometheus's PromQL engine and fails on any
difference, so rate extrapolation, empty windows, ``for:``, ``histogram_quantile`` and the
annotation templates are all checked against the real thing.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spec.decisions.alert_queries import rule_vectors
from spec.decisions.alert_rules import FIRING, AlertRules
from spec.decisions.promql import Labels, ScrapedSeries, labels_of
from spec.metrics import (
    BREAKER_STATE,
    CALL_DURATION,
    CALLS,
    RESOURCE_UTILISATION,
    TASKS_FINISHED,
    WORKERS,
    call_duration_buckets,
)
from spec.policies import DEFAULT_POLICIES, AlertPolicy
from spec.render.alert_annotations import expand_annotations
from spec.render.prometheus_rules import render_prometheus_rules

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed (Debian package 'prometheus'; .ci/run installs it)"
)

STEP_S = 15.0
BUCKETS = call_duration_buckets()
SERVICE = {"service": "ai-provider", "operation": "analyze"}

Scrapes = dict[tuple[str, Labels], list[float]]


def policy_with(for_s: float, *names: str) -> AlertPolicy:
    base = DEFAULT_POLICIES.alerts
    rules = tuple(r.model_copy(update={"for_s": for_s}) for r in base.rules if r.name in names)
    return base.model_copy(update={"rules": rules})


def series_text(name: str, labels: Labels) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels)
    return f"{name}{{{inner}}}"


def expected_alerts(policy: AlertPolicy, scrapes: Scrapes, steps: int) -> list[list[dict[str, object]]]:
    """What the spec decides at every evaluation: the firing alerts, as promtool lists them."""
    rules = AlertRules(policy)
    store = ScrapedSeries(max(policy.rate_window_s, policy.lookback_s), max_samples=10_000)
    out = []
    for step in range(steps):
        at = step * STEP_S
        # NaN stands for "not in this scrape" (a worker out of rotation): promtool's "stale".
        store.scraped(at, [(name, labels, values[step]) for (name, labels), values in scrapes.items()
                           if not math.isnan(values[step])])
        for metric, vector in rule_vectors(policy, store, at).items():
            rules.evaluate_vector(metric, vector, at=at)
        firing = []
        for status in rules.statuses():
            if status.state == FIRING:
                series = dict(status.labels)
                firing.append({
                    "exp_labels": {**series, "severity": status.prometheus_labels()["severity"],
                                   "escalation_level": str(status.rule.escalation_level)},
                    "exp_annotations": expand_annotations(status.rule, policy, series, status.value),
                    "_alert": status.rule.name,
                })
        out.append(firing)
    return out


def check_with_promtool(tmp_path: Path, policy: AlertPolicy, scrapes: Scrapes, steps: int) -> None:
    rules_file = tmp_path / "rules.yml"
    rules_file.write_text(render_prometheus_rules(policy))
    expected = expected_alerts(policy, scrapes, steps)
    tests = []
    for step, firing in enumerate(expected):
        for rule in policy.rules:
            alerts = [{k: v for k, v in a.items() if k != "_alert"} for a in firing if a["_alert"] == rule.name]
            tests.append({"eval_time": f"{int(step * STEP_S)}s", "alertname": rule.name, "exp_alerts": alerts})
    unit = {
        "rule_files": [str(rules_file)],
        "evaluation_interval": f"{int(STEP_S)}s",
        "tests": [{
            "interval": f"{int(STEP_S)}s",
            "input_series": [
                {"series": series_text(name, labels),
                 "values": " ".join("stale" if math.isnan(v) else repr(v) for v in values)}
                for (name, labels), values in scrapes.items()
            ],
            "alert_rule_test": tests,
        }],
    }
    test_file = tmp_path / "unit.yml"
    test_file.write_text(yaml.safe_dump(unit, sort_keys=False))
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def cumulative(increments: Sequence[float]) -> list[float]:
    total, out = 0.0, []
    for inc in increments:
        total += inc
        out.append(total)
    return out


def call_scrapes(errors: Sequence[int], successes: Sequence[int], durations: Mapping[int, float]) -> Scrapes:
    """Counters and the duration histogram of one (service, operation), scraped every step."""
    scrapes: Scrapes = {
        (CALLS, labels_of({**SERVICE, "outcome": "error"})): cumulative(errors),
        (CALLS, labels_of({**SERVICE, "outcome": "success"})): cumulative(successes),
        (CALLS, labels_of({**SERVICE, "outcome": "fast_fail"})): [0.0] * len(errors),
    }
    calls = [e + s for e, s in zip(errors, successes, strict=True)]
    for bound in BUCKETS:
        per_step = [n if durations.get(i, 0.1) <= bound else 0 for i, n in enumerate(calls)]
        le = "+Inf" if bound == float("inf") else repr(bound)
        scrapes[(CALL_DURATION + "_bucket", labels_of({**SERVICE, "le": le}))] = cumulative(per_step)
    return scrapes


def test_the_first_error_and_the_end_of_traffic(tmp_path: Path) -> None:
    """Regressions: a zero-created counter shows the first error to rate(); an idle window clears."""
    steps = 24
    errors = [0, 1, 0, 1, 1] + [0] * (steps - 5)  # traffic stops after step 4
    successes = [0] * steps
    check_with_promtool(tmp_path, policy_with(30.0, "HighErrorRate"), call_scrapes(errors, successes, {}), steps)
    fired = expected_alerts(policy_with(30.0, "HighErrorRate"), call_scrapes(errors, successes, {}), steps)
    assert fired[3] and fired[-1] == []  # it fired, and it cleared once the window held no calls


def test_p95_at_one_and_a_half_seconds_does_not_fire(tmp_path: Path) -> None:
    """Regression: every call 1.5 s. With no bucket edge at the 2 s threshold Prometheus interpolated
    p95 to 2.425 s inside (1, 2.5] and fired; with the threshold as an edge both say 1.95 s."""
    steps = 12
    errors, successes = [0] * steps, [0] + [4] * (steps - 1)
    scrapes = call_scrapes(errors, successes, dict.fromkeys(range(steps), 1.5))
    policy = policy_with(0.0, "HighLatencyP95")
    check_with_promtool(tmp_path, policy, scrapes, steps)
    assert not any(expected_alerts(policy, scrapes, steps))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    calls=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from([0.05, 0.5, 1.5, 2.0, 3.0, 9.0])),
                   min_size=4, max_size=30),
    for_s=st.sampled_from([0.0, 15.0, 45.0]),
)
def test_random_traffic_alerts_alike(tmp_path: Path, calls: list[tuple[int, int, float]], for_s: float) -> None:
    errors = [0] + [c[0] for c in calls]
    successes = [0] + [c[1] for c in calls]
    durations = {i + 1: c[2] for i, c in enumerate(calls)}
    scrapes = call_scrapes(errors, successes, durations)
    check_with_promtool(tmp_path, policy_with(for_s, "HighErrorRate", "HighLatencyP95"), scrapes, len(errors))


def test_breakers_and_workers_down(tmp_path: Path) -> None:
    steps = 10
    open_ = [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]
    scrapes: Scrapes = {
        (BREAKER_STATE, labels_of({"service": "git-platform", "state": "open"})): [float(v) for v in open_],
        (BREAKER_STATE, labels_of({"service": "git-platform", "state": "closed"})): [1.0 - v for v in open_],
        (WORKERS, labels_of({"state": "unhealthy"})): [0, 1, 1, 1, 1, 1, 2, 0, 0, 0],
        (WORKERS, labels_of({"state": "idle"})): [2, 1, 1, 1, 1, 1, 0, 2, 2, 2],
    }
    check_with_promtool(tmp_path, policy_with(30.0, "CircuitBreakerOpen", "WorkerDown"), scrapes, steps)


def test_a_gauge_that_leaves_the_scrape_clears_at_once(tmp_path: Path) -> None:
    """A worker out of rotation drops out of the scrape: stale at once, in Prometheus and here."""
    steps = 10
    nan = math.nan
    scrapes: Scrapes = {
        (RESOURCE_UTILISATION, labels_of({"worker_id": "w1", "resource": "memory"})):
            [0.5, 0.95, 0.95, 0.95, 0.95, nan, nan, nan, nan, nan],
        (RESOURCE_UTILISATION, labels_of({"worker_id": "w2", "resource": "memory"})): [0.95] * steps,
    }
    policy = policy_with(15.0, "HighResourceUtilisation")
    check_with_promtool(tmp_path, policy, scrapes, steps)
    fired = expected_alerts(policy, scrapes, steps)
    assert len(fired[4]) == 2 and len(fired[6]) == 1


def test_task_failure_rate(tmp_path: Path) -> None:
    steps = 16
    done = cumulative([0, 3, 3, 1, 0, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0])
    failed = cumulative([0, 0, 1, 2, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0])
    scrapes: Scrapes = {
        (TASKS_FINISHED, labels_of({"task_type": "noop", "outcome": "complete"})): done,
        (TASKS_FINISHED, labels_of({"task_type": "noop", "outcome": "fail"})): failed,
        (TASKS_FINISHED, labels_of({"task_type": "noop", "outcome": "time_out"})): [0.0] * steps,
    }
    policy = policy_with(15.0, "HighTaskFailureRate")
    check_with_promtool(tmp_path, policy, scrapes, steps)
    assert any(expected_alerts(policy, scrapes, steps))
