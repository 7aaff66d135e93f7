"""What a run achieved, beside whether it conformed: throughput, latency, queue wait, failures by reason.

A scenario of your own is also a capacity question ("how many tasks per second, how long do they
wait, why did the failed ones fail"), so every run reports these next to its checks, in the
results table and the JSON (issue 17). They are read from the run's trace and ledger: accepted
at (the ledger), first assigned and finally settled (the task_lifecycle events).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sim.check_result import data_of
from sim.model import RunResult
from spec.machines.task_lifecycle import SETTLING_TRIGGERS, TASK_LIFECYCLE, TaskState, TaskTrigger
from spec.trace import TraceKey


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


@dataclass(frozen=True)
class RunFigures:
    completed: int
    failed: int
    #: Failed tasks by the reason their final report gave (a failure code, or ``unknown``).
    failure_reasons: dict[str, int] = field(default_factory=dict)
    throughput_per_s: float = 0.0
    latency_p50_s: float | None = None
    latency_p95_s: float | None = None
    queue_wait_p50_s: float | None = None
    queue_wait_p95_s: float | None = None

    @classmethod
    def of(cls, run: RunResult) -> RunFigures:
        accepted = run.ledger.accepted
        assigned: dict[str, float] = {}
        settled: dict[str, float] = {}
        reasons: Counter[str] = Counter()
        for e in run.entries:
            if e.machine != TASK_LIFECYCLE.name:
                continue
            task = e.component.removeprefix("task:")
            if e.trigger == TaskTrigger.ASSIGN:
                assigned.setdefault(task, e.time)
            elif e.trigger in SETTLING_TRIGGERS and e.dest in (TaskState.COMPLETED, TaskState.FAILED):
                settled[task] = e.time
                if e.dest == TaskState.FAILED:
                    reasons[str(data_of(e, TraceKey.REASON) or "unknown")] += 1
        states = run.final_task_states.values()
        completed = sum(1 for s in states if s == TaskState.COMPLETED)
        done = [t for t, s in run.final_task_states.items() if s == TaskState.COMPLETED and t in settled]
        latencies = [settled[t] - accepted[t] for t in done if t in accepted]
        waits = [assigned[t] - accepted[t] for t in assigned if t in accepted]
        return cls(
            completed=completed,
            failed=sum(1 for s in states if s == TaskState.FAILED),
            failure_reasons=dict(sorted(reasons.items())),
            throughput_per_s=completed / run.sim_time_s if run.sim_time_s > 0 else 0.0,
            latency_p50_s=_percentile(latencies, 50),
            latency_p95_s=_percentile(latencies, 95),
            queue_wait_p50_s=_percentile(waits, 50),
            queue_wait_p95_s=_percentile(waits, 95),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "completed": self.completed, "failed": self.failed, "failure_reasons": self.failure_reasons,
            "throughput_per_s": self.throughput_per_s, "latency_p50_s": self.latency_p50_s,
            "latency_p95_s": self.latency_p95_s, "queue_wait_p50_s": self.queue_wait_p50_s,
            "queue_wait_p95_s": self.queue_wait_p95_s,
        }
