"""Timeline plots of a run: breaker state, queue depth, worker liveness, task latency.

Everything is derived from the trace (and the ledger's acceptance times), so the plots show
what the checks read. The scenario's faults are drawn on every panel: a shaded band per fault
with a duration, a dotted line per crash or shutdown, named in the legend of the top panel.
Counts (queued tasks, live workers) have whole-number axes. Images go to
``docs/simulation/<scenario>.png`` for the docs to embed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from sim.model import RunResult, run_scenario  # noqa: E402
from sim.scenario import Scenario  # noqa: E402
from spec.machines.circuit_breaker import BreakerState  # noqa: E402
from spec.machines.task_lifecycle import TaskState, TaskTrigger  # noqa: E402
from spec.machines.worker_lifecycle import LIVE_STATES  # noqa: E402

_BREAKER_LEVEL: dict[str, int] = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}


def breaker_series(run: RunResult) -> dict[str, tuple[list[float], list[int]]]:
    series: dict[str, tuple[list[float], list[int]]] = defaultdict(lambda: ([0.0], [0]))
    for e in run.entries:
        if e.machine == "circuit_breaker":
            times, levels = series[e.component]  # every breaker that saw a call gets a line
            if e.source != e.dest:
                times.append(e.time)
                levels.append(_BREAKER_LEVEL[e.dest])
    return dict(series)


def queue_depth_series(run: RunResult) -> tuple[list[float], list[int]]:
    changes: list[tuple[float, int]] = [(t, 1) for t in run.ledger.accepted.values()]
    for e in run.entries:
        if e.machine == "task_lifecycle":
            if e.trigger == TaskTrigger.ASSIGN:
                changes.append((e.time, -1))
            elif e.dest == TaskState.QUEUED:
                changes.append((e.time, 1))
    changes.sort(key=lambda c: c[0])
    times, depth, current = [0.0], [0], 0
    for t, delta in changes:
        current += delta
        times.append(t)
        depth.append(current)
    return times, depth


def liveness_series(run: RunResult) -> tuple[list[float], list[int]]:
    state: dict[str, str] = {}
    times, live = [0.0], [0]
    for e in run.entries:
        if e.machine == "worker_lifecycle" and e.source != e.dest:
            state[e.component] = e.dest
            times.append(e.time)
            live.append(sum(1 for s in state.values() if s in LIVE_STATES))
    return times, live


def latency_points(run: RunResult) -> tuple[list[float], list[float]]:
    ends, latencies = [], []
    for e in run.entries:
        if e.machine == "task_lifecycle" and e.dest in (TaskState.COMPLETED, TaskState.FAILED):
            accepted = run.ledger.accepted.get(e.component.removeprefix("task:"))
            if accepted is not None:
                ends.append(e.time)
                latencies.append(e.time - accepted)
    return ends, latencies


def fault_spans(scenario: Scenario) -> list[tuple[str, float, float | None]]:
    """``(label, start, end)`` per fault; ``end`` is None for an instant (a crash, a shutdown)."""
    spans: list[tuple[str, float, float | None]] = []
    for fault in scenario.faults:
        label = fault.kind.replace("_", " ")
        spans.append((label, fault.at, getattr(fault, "end", None)))
    return spans


def _draw_faults(ax: Axes, spans: list[tuple[str, float, float | None]], *, label: bool) -> None:
    colours = plt.get_cmap("tab10")
    kinds = list(dict.fromkeys(name for name, _start, _end in spans))
    seen: set[str] = set()
    for name, start, end in spans:
        colour = colours(kinds.index(name) % 10)
        text = f"fault: {name}" if label and name not in seen else None
        seen.add(name)
        if end is None:
            ax.axvline(start, color=colour, linestyle=":", linewidth=1.5, label=text)
        else:
            ax.axvspan(start, end, color=colour, alpha=0.15, label=text)


def plot_run(run: RunResult, path: Path) -> Path:
    fig, axes = plt.subplots(4, 1, figsize=(12, 9), sharex=True)
    breaker_ax, queue_ax, live_ax, latency_ax = axes
    spans = fault_spans(run.scenario)
    for index, ax in enumerate(axes):
        _draw_faults(ax, spans, label=index == 0)
    breakers = breaker_series(run)
    for component, (times, levels) in sorted(breakers.items()):
        breaker_ax.step(times + [run.sim_time_s], levels + [levels[-1]], where="post", label=component)
    breaker_ax.set_yticks([0, 1, 2], ["closed", "half-open", "open"])
    breaker_ax.set_title("circuit breakers" if breakers else "circuit breakers (closed throughout)")
    if breakers or spans:
        # Outside the panel: it would hide the start of the run.
        breaker_ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
    times, depth = queue_depth_series(run)
    queue_ax.step(times + [run.sim_time_s], depth + [depth[-1]], where="post")
    queue_ax.set_ylabel("queued tasks")
    queue_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    times, live = liveness_series(run)
    live_ax.step(times + [run.sim_time_s], live + [live[-1]], where="post")
    live_ax.set_ylabel("live workers")
    live_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ends, latencies = latency_points(run)
    latency_ax.plot(ends, latencies, ".", markersize=3)
    latency_ax.set_ylabel("task latency (s)")
    latency_ax.set_xlabel("simulated time (s)")
    fig.suptitle(f"{run.scenario.name} (seed {run.seed})")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def write_plots(scenarios: Sequence[Scenario], directory: Path) -> list[Path]:
    return [plot_run(run_scenario(s), directory / f"{s.name}.png") for s in scenarios]
