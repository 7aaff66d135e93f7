"""Validation against queueing theory: simulated M/M/c queue waits vs the Erlang C formula.

With Poisson arrivals (rate λ), exponential work (mean 1/μ), c workers and no faults, the model
is an M/M/c queue provided idle workers are waiting at the queue when a task arrives: the
validation topology therefore has zero latency, long polls (``PollPolicy.long_poll_s``) and an
immediate re-poll. The wait of a task is the time from acceptance to its lease (``assign``).

Two separate questions, two checks: is the model an M/M/c queue? Each task's simulated wait
must equal the exact first-come-first-served c-server recursion (:func:`fcfs_waits`) fed with
the same arrival and work times — no tolerance. Is the run long enough? The mean wait must be
within 5% of Erlang C; at low load that is a sampling question (at ρ = 0.5 a 1% high sample
mean of the work times moves the mean wait by several percent).
"""

from __future__ import annotations

import heapq
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from rich.console import Console
from rich.table import Table

from sim.model import Model
from sim.scenario import Scenario, Topology, Workload
from spec.machines.task_lifecycle import TaskTrigger
from spec.policies import DEFAULT_POLICIES

LOADS = (0.5, 0.8, 0.9)
TOLERANCE = 0.05
#: Float noise allowed between a simulated wait and the exact recursion's (times are sums of floats).
EXACT_TOLERANCE_S = 1e-6
MEAN_SERVICE_S = 1.0


def erlang_c_probability(servers: int, offered: float) -> float:
    """Probability that an arrival waits (Erlang C), for offered load a = λ/μ < c."""
    if offered >= servers:
        raise ValueError(f"offered load {offered} must be below the number of servers {servers}")
    term = 1.0
    total = 1.0
    for k in range(1, servers):
        term *= offered / k
        total += term
    top = term * offered / servers * servers / (servers - offered)
    return top / (total + top)


def erlang_c_wait(servers: int, arrival_rate: float, service_rate: float) -> float:
    """Mean time in queue, Wq = C(c, a) / (cμ - λ)."""
    offered = arrival_rate / service_rate
    return erlang_c_probability(servers, offered) / (servers * service_rate - arrival_rate)


def mm_c_scenario(rho: float, workers: int, tasks: int, seed: int, mean_service_s: float = MEAN_SERVICE_S) -> Scenario:
    rate = rho * workers / mean_service_s
    policies = DEFAULT_POLICIES.model_copy(update={
        "poll": DEFAULT_POLICIES.poll.model_copy(update={"long_poll_s": 60.0, "min_interval_s": 1e-9,
                                                           "max_interval_s": 1e-9}),
    })
    return Scenario(
        name=f"erlang_rho_{int(rho * 100)}",
        description=f"M/M/{workers} at rho {rho}: no faults, zero latency, long polls.",
        seed=seed,
        duration_s=10.0 + tasks / rate,
        settle_timeout_s=3600.0,
        topology=Topology(workers=workers, latency_s=0.0, db_op_s=0.0, service_call_s=0.0, startup_phase_s=0.0),
        workload=Workload(tasks=tasks, start_s=5.0, arrival="poisson", rate_per_s=rate, service="exponential",
                          mean_service_s=mean_service_s, ai_calls=0, git_calls=0),
        policies=policies,
    )


def fcfs_waits(arrivals: list[float], works: list[float], servers: int) -> list[float]:
    """Queue waits of a FCFS queue with `servers` identical servers, arrivals in order."""
    free = [0.0] * servers
    waits = []
    for arrival, work in zip(arrivals, works, strict=True):
        start = max(arrival, heapq.heappop(free))
        heapq.heappush(free, start + work)
        waits.append(start - arrival)
    return waits


@dataclass(frozen=True)
class ErlangRow:
    rho: float
    workers: int
    tasks: int
    simulated_wait_s: float
    formula_wait_s: float
    wall_s: float
    #: Tasks whose simulated wait differs from `fcfs_waits` on the same inputs (0: exactly M/M/c).
    not_fcfs: int = 0

    @property
    def relative_error(self) -> float:
        return abs(self.simulated_wait_s - self.formula_wait_s) / self.formula_wait_s


def measure(rho: float, *, workers: int = 4, tasks: int = 200_000, seed: int = 1, warmup: float = 0.01,
            mean_service_s: float = MEAN_SERVICE_S) -> ErlangRow:
    began = time.perf_counter()
    model = Model(mm_c_scenario(rho, workers, tasks, seed, mean_service_s))
    run = model.run()
    accepted = run.ledger.accepted
    assigned: dict[str, float] = {}
    for e in run.entries:
        if e.machine == "task_lifecycle" and e.trigger == TaskTrigger.ASSIGN:
            assigned.setdefault(e.component.removeprefix("task:"), e.time)
    order = sorted(accepted, key=accepted.__getitem__)
    waits = [assigned[t] - accepted[t] for t in order]
    exact = fcfs_waits([accepted[t] for t in order], [model.orchestrator.tasks[t].work_s for t in order], workers)
    not_fcfs = sum(1 for w, x in zip(waits, exact, strict=True) if abs(w - x) > EXACT_TOLERANCE_S)
    skip = int(len(waits) * warmup)
    kept = waits[skip:]
    simulated = math.fsum(kept) / len(kept)
    formula = erlang_c_wait(workers, rho * workers / mean_service_s, 1 / mean_service_s)
    return ErlangRow(rho, workers, len(kept), simulated, formula, time.perf_counter() - began, not_fcfs)


def markdown_table(rows: list[ErlangRow]) -> str:
    lines = ["| ρ | workers | tasks | simulated Wq (s) | Erlang C Wq (s) | error | within 5% | tasks off FCFS |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.rho} | {r.workers} | {r.tasks:,} | {r.simulated_wait_s:.4f} | {r.formula_wait_s:.4f} | "
                     f"{r.relative_error:.2%} | {'yes' if r.relative_error <= TOLERANCE else 'no'} | {r.not_fcfs} |")
    return "\n".join(lines)


def _measure_load(args: tuple[float, int, int, int]) -> ErlangRow:
    rho, workers, tasks, seed = args
    return measure(rho, workers=workers, tasks=tasks, seed=seed)


def erlang_command(console: Console, *, tasks: int, workers: int, seed: int) -> int:
    """Measure every load in parallel (one process per load, at most one per core)."""
    jobs = [(rho, workers, tasks, seed) for rho in LOADS]
    with ProcessPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        rows = list(pool.map(_measure_load, jobs))
    table = Table(title=f"M/M/{workers}: simulated mean queue wait vs Erlang C (seed {seed})")
    for column in ("rho", "tasks", "simulated Wq s", "Erlang C Wq s", "error", "tasks off FCFS", "wall s"):
        table.add_column(column, justify="right")
    for r in rows:
        colour = "green" if r.relative_error <= TOLERANCE else "red"
        exact = "green" if r.not_fcfs == 0 else "red"
        table.add_row(str(r.rho), f"{r.tasks:,}", f"{r.simulated_wait_s:.4f}", f"{r.formula_wait_s:.4f}",
                      f"[{colour}]{r.relative_error:.2%}[/]", f"[{exact}]{r.not_fcfs}[/]", f"{r.wall_s:.1f}")
    console.print(table)
    print(markdown_table(rows))
    return 0 if all(r.relative_error <= TOLERANCE and r.not_fcfs == 0 for r in rows) else 1
