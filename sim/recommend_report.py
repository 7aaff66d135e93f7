"""``python -m sim recommend`` and the docs' optimisation page: the recommendations as Markdown and plots.

The same text is printed by the command and embedded by the docs build, so the page always
shows what a run of the simulator gives for the spec as it stands.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from sim.recommend import (  # noqa: E402
    Recommendations,
    false_detections_per_worker_hour,
    heartbeat_candidates,
)

PLOTS = ("workers", "heartbeat", "breaker", "retry")


def _n(value: float, digits: int = 2) -> str:
    """Whole numbers without decimals; others with `digits` significant decimals."""
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.{digits}f}".rstrip("0").rstrip(".")


def _rate(value: float) -> str:
    return f"{value:.2g}" if value < 0.01 else f"{value:.3f}"


def markdown(r: Recommendations, image_dir: str = "optimisation") -> str:
    """The four recommendations, each with its workload, its backing run and its plot."""
    w, p = r.workload, r.policies
    workers, hb, breaker, retry = r.workers, r.heartbeat, r.breaker, r.retry
    checks = "\n".join(f"| {c.workers} | {c.formula_wait_s:.2f} s | {c.simulated_wait_s:.2f} s | "
                       f"{'yes' if c.simulated_wait_s <= w.target_queue_wait_s else 'no'} |" for c in workers.checks)
    hb_runs = "\n".join(
        f"| {run.label} | {_n(run.interval_s)} s | {_n(run.timeout_s)} s | {_n(run.timeout_s + run.interval_s)} s | "
        f"{_rate(run.estimated_per_worker_hour)} | {run.false_detections} in {_n(run.worker_hours, 1)} worker-hours | "
        f"{'not detected' if run.detection_s is None else f'{run.detection_s:.1f} s'} |" for run in hb.runs)
    retry_rows = "\n".join(f"| {n} | {rate:.2f} | {ok:.2%} | {'yes' if rate <= w.provider_limit_per_s else 'no'} |"
                           for n, rate, ok in retry.rows)
    return f"""\
## Workers for a target queue wait

**Workload:** tasks arrive at {_n(w.arrival_rate_per_s)} per second (Poisson), each takes
{_n(w.mean_task_s)} s on average (exponential); target: mean queue wait ≤ {_n(w.target_queue_wait_s)} s.
Offered load {_n(w.arrival_rate_per_s * w.mean_task_s)} workers' worth.

**Recommendation: {workers.workers} workers.** Erlang C (an M/M/c queue) gives the mean wait
for each worker count; the smallest count meeting the target is {workers.workers}. The SimPy
model, run with that many workers and one fewer ({_n(w.simulated_tasks)} tasks each, seed
{w.seed}, zero latency so that it is an M/M/c queue), agrees on which side of the target each
count lies. A short run: its mean is a check of the side, not a precise estimate (the Erlang
C validation on the Simulation page uses 150,000 tasks).

| workers | Erlang C mean wait | simulated mean wait | meets target |
|---|---|---|---|
{checks}

![Mean queue wait against worker count]({image_dir}/workers.png)

*Mean queue wait by worker count: Erlang C (line), the simulated runs (points) and the target
(dashed).*

## Heartbeat interval and timeout for a target detection time

**Workload:** {w.fleet_workers} workers on links losing {w.network_loss:.0%} of messages; target:
a dead worker is detected within {_n(w.target_detection_s)} s; at most
{_rate(w.false_detection_budget_per_worker_hour)} false detections (a live worker taken for dead,
its lease re-queued) per worker-hour.

A live worker is taken for dead when `timeout_s / interval_s` heartbeats in a row are lost,
about `loss ** (timeout_s / interval_s)` of the time per heartbeat; the sweep runs every
`interval_s`, so detection takes at most `timeout_s + interval_s`.

**Recommendation: `heartbeat.interval_s` = {_n(hb.interval_s)} s, `heartbeat.timeout_s` =
{_n(hb.timeout_s)} s** — the largest whole-second interval (fewest heartbeats), then the
shortest timeout, within both limits. Backing run: the SimPy model with the fleet above for
{_n(w.fleet_hours)} simulated hour(s) under that loss, worker 1
crashing halfway, once with the recommendation and once with the current policy
(`heartbeat.interval_s` {_n(p.heartbeat.interval_s)} s, `heartbeat.timeout_s` {_n(p.heartbeat.timeout_s)} s):

| policy | interval | timeout | worst-case detection | estimated false detections per worker-hour | \
simulated false detections | crash detected after (from the crash) |
|---|---|---|---|---|---|---|
{hb_runs}

![False detections against timeout]({image_dir}/heartbeat.png)

*Estimated false detections per worker-hour by timeout, one line per interval, over the
candidates that meet the detection target; the budget (dashed) and the two simulated runs
(points, drawn at the budget's floor when none occurred).*

## Circuit breaker for a failure pattern

**Workload:** {_n(w.provider_calls_per_s)} calls per second to the provider, {w.background_error_fraction:.0%}
of them failing in normal operation; outages in which every call fails, typically
{_n(w.typical_outage_s)} s long. Targets: open within {_n(w.target_trip_s)} s of an outage, at most
{_rate(w.false_trip_budget_per_hour)} openings per hour without one, notice a recovery within
{_n(w.recovery_notice_s)} s.

**Recommendation: `circuit_breaker.failure_threshold` = {breaker.failure_threshold} within
`circuit_breaker.window_s` ({_n(breaker.window_s)} s, unchanged), `circuit_breaker.open_duration_s`
= {_n(breaker.open_duration_s)} s.** The smallest threshold whose window rarely holds that many
background errors (estimated {_rate(breaker.estimated_false_trips_per_hour)} openings per hour); an
outage opens it after {_n(breaker.trip_s, 1)} s. The breaker learns that the provider is back at its next
trial, at most one open period later; an outage of {_n(w.typical_outage_s)} s costs about
{_n(w.typical_outage_s / breaker.open_duration_s, 1)} failed trials. Backing run: a Monte Carlo run of
the sliding window over {_n(breaker.simulated_hours)} hours of Poisson background errors (seed
{w.seed}) opened it {breaker.simulated_false_trips} times
({_rate(breaker.simulated_false_trips / breaker.simulated_hours)} per hour).

![False openings against threshold]({image_dir}/breaker.png)

*Estimated openings per hour without an outage, by failure threshold, for the policy's window; the
budget (dashed) and the recommendation (point).*

## Retry budget against a provider's rate limit

**Workload:** {_n(w.provider_calls_per_s)} calls per second against a provider limit of
{_n(w.provider_limit_per_s)} requests per second; in a degraded period {w.degraded_error_fraction:.0%}
of attempts fail and are retried.

**Recommendation: `backoff.max_retries` = {retry.max_retries}** (currently {p.backoff.max_retries}): the
most retries whose attempts in a degraded period, {retry.attempts_per_s:.2f} per second, stay under
the limit; a call then succeeds {retry.success_probability:.2%} of the time. More retries push the
fleet into 429s, which the rate-limit policy then waits out (`rate_limit.default_delay_s` without a
Retry-After).

| retries | attempts per second | calls succeeding | under the limit |
|---|---|---|---|
{retry_rows}

![Attempts against retries]({image_dir}/retry.png)

*Attempts per second in a degraded period by retry budget; the provider's limit (dashed).*
"""


def _finish(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def write_plots(r: Recommendations, directory: Path) -> list[Path]:
    """One PNG per recommendation in `directory` (workers, heartbeat, breaker, retry)."""
    w = r.workload
    paths = []
    fig, ax = plt.subplots(figsize=(8, 4.5))
    counts, waits = zip(*r.workers.curve, strict=True)
    ax.plot(counts, waits, "-o", label="Erlang C")
    ax.plot([c.workers for c in r.workers.checks], [c.simulated_wait_s for c in r.workers.checks], "s",
            markersize=9, label="simulated")
    ax.axhline(w.target_queue_wait_s, linestyle="--", color="grey", label="target")
    ax.set(xlabel="workers", ylabel="mean queue wait (s)", yscale="log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    paths.append(_finish(fig, directory / "workers.png"))

    fig, ax = plt.subplots(figsize=(8, 4.5))
    by_interval: dict[float, list[tuple[float, float]]] = {}
    for interval, timeout in heartbeat_candidates(w):
        by_interval.setdefault(interval, []).append(
            (timeout, false_detections_per_worker_hour(interval, timeout, w.network_loss)))
    shown = {r.heartbeat.interval_s, r.policies.heartbeat.interval_s, 2.0, 5.0, 15.0} & set(by_interval)
    for interval in sorted(shown):
        ts, rates = zip(*by_interval[interval], strict=True)
        ax.plot(ts, rates, "-o", markersize=3, label=f"interval {interval:g} s")
    floor = w.false_detection_budget_per_worker_hour / 10
    for run in r.heartbeat.runs:
        ax.plot([run.timeout_s], [max(run.simulated_per_worker_hour, floor)], "k*", markersize=12)
        ax.annotate(f"{run.label} (simulated)", (run.timeout_s, max(run.simulated_per_worker_hour, floor)),
                    textcoords="offset points", xytext=(6, 6))
    ax.axhline(w.false_detection_budget_per_worker_hour, linestyle="--", color="grey", label="budget")
    ax.set(xlabel="timeout (s)", ylabel="false detections per worker-hour", yscale="log")
    ax.set_ylim(bottom=floor / 10)
    ax.legend(fontsize="small", ncol=2)
    paths.append(_finish(fig, directory / "heartbeat.png"))

    fig, ax = plt.subplots(figsize=(8, 4.5))
    thresholds, rates = zip(*r.breaker.curve, strict=True)
    ax.plot(thresholds, rates, "-o", label=f"window {r.breaker.window_s:g} s (estimate)")
    ax.plot([r.breaker.failure_threshold], [r.breaker.estimated_false_trips_per_hour], "k*", markersize=12,
            label="recommended")
    ax.axhline(w.false_trip_budget_per_hour, linestyle="--", color="grey", label="budget")
    ax.set(xlabel="failure threshold", ylabel="openings per hour without an outage", yscale="log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    paths.append(_finish(fig, directory / "breaker.png"))

    fig, ax = plt.subplots(figsize=(8, 4.5))
    retries = [row[0] for row in r.retry.rows]
    ax.bar(retries, [row[1] for row in r.retry.rows], label="attempts per second")
    ax.axhline(w.provider_limit_per_s, linestyle="--", color="grey", label="provider limit")
    ax.set(xlabel="max retries", ylabel="attempts per second")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    paths.append(_finish(fig, directory / "retry.png"))
    return paths
