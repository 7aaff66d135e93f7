"""``python -m sim bench``: performance figures, printed, never asserted (issue 5, "Performance").

* harness event rate: SimPy events per wall second in the model (1,000 heartbeating workers)
  against raw SimPy processing the same number of timeout events;
* 1,000 workers with heartbeats for one simulated hour;
* the whole catalogue as ``nox -s simulate`` runs it (determinism re-run included), with the
  simulated-to-wall ratio of each scenario.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import simpy
from rich.console import Console
from rich.table import Table

from sim.catalogue import catalogue_files
from sim.model import Model
from sim.outcome import Outcome, evaluate
from sim.scenario import Scenario, Topology, Workload, load_scenario
from spec.machines import MACHINES
from spec.policies import DEFAULT_POLICIES

FLEET = 1000
HOUR_S = 3600.0


def fleet_scenario(workers: int = FLEET, duration_s: float = HOUR_S) -> Scenario:
    """Workers that heartbeat and long-poll an empty queue for `duration_s`."""
    poll = DEFAULT_POLICIES.poll.model_copy(update={"long_poll_s": 60.0})
    return Scenario(
        name="fleet_heartbeats", description=f"{workers} idle workers heartbeating for {duration_s:g} s.",
        seed=1, duration_s=duration_s, settle_timeout_s=0.0,
        topology=Topology(workers=workers), workload=Workload(tasks=0),
        policies=DEFAULT_POLICIES.model_copy(update={"poll": poll}),
    )


def machine_fire_cost_s(fires: int = 20_000) -> float:
    """Seconds per ``MachineInstance.fire`` of a heartbeat, with a recording listener, measured alone."""
    seen: list[object] = []
    machine = MACHINES["worker_lifecycle"].bind(listener=seen.append)
    machine.fire("register")
    machine.fire("capabilities_accepted")
    began = time.perf_counter()
    for _ in range(fires):
        machine.fire("heartbeat")
    return (time.perf_counter() - began) / fires


def _events_processed(env: simpy.Environment) -> int:
    return next(env._eid)  # SimPy numbers every scheduled event; the counter's next value is the count


def run_fleet() -> tuple[float, int, int]:
    """(wall seconds, SimPy events, trace events) of the 1,000-worker hour."""
    model = Model(fleet_scenario())
    began = time.perf_counter()
    result = model.run()
    wall = time.perf_counter() - began
    return wall, _events_processed(model.world.env), len(result.entries)


def raw_simpy(events: int, processes: int = FLEET) -> float:
    """Wall seconds for raw SimPy to process `events` timeouts spread over `processes` processes."""
    env = simpy.Environment()
    per_process = max(1, events // processes)

    def tick() -> Generator[simpy.Event, Any, None]:
        for _ in range(per_process):
            yield env.timeout(10.0)

    for _ in range(processes):
        env.process(tick())
    began = time.perf_counter()
    env.run()
    return time.perf_counter() - began


@dataclass(frozen=True)
class ScenarioFigures:
    name: str
    passed: bool
    sim_time_s: float
    wall_s: float
    events: int

    @property
    def sim_to_wall(self) -> float:
        return self.sim_time_s / self.wall_s if self.wall_s > 0 else float("inf")


def _evaluate_file(path: str) -> ScenarioFigures:
    o: Outcome = evaluate(load_scenario(path))
    return ScenarioFigures(o.name, o.passed, o.run.sim_time_s, o.run.wall_s, len(o.run.entries))


def run_catalogue(workers: int) -> tuple[float, list[ScenarioFigures]]:
    began = time.perf_counter()
    with ProcessPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(_evaluate_file, [str(p) for p in catalogue_files()]))
    return time.perf_counter() - began, outcomes


def bench_command(console: Console) -> int:
    cores = os.cpu_count() or 1
    fleet_wall, sim_events, trace_events = run_fleet()
    raw_wall = raw_simpy(sim_events)
    harness_rate, raw_rate = sim_events / fleet_wall, sim_events / raw_wall
    table = Table(title=f"sim bench ({cores} cores)")
    table.add_column("measure")
    table.add_column("figure", justify="right")
    table.add_column("goal")
    table.add_row(f"{FLEET} workers, 1 simulated hour: wall", f"{fleet_wall:.2f} s", "< 30 s")
    table.add_row("  SimPy events / trace events", f"{sim_events:,} / {trace_events:,}", "")
    table.add_row("  simulated/wall", f"{HOUR_S / fleet_wall:,.0f}x", "")
    table.add_row("raw SimPy, same event count", f"{raw_rate:,.0f} ev/s", "")
    table.add_row("harness (full model)", f"{harness_rate:,.0f} ev/s", "")
    table.add_row("harness / raw SimPy", f"{harness_rate / raw_rate:.0%}", ">= 50%")
    fire_s = machine_fire_cost_s()
    machines_s = fire_s * trace_events
    table.add_row(f"  of which spec machines ({fire_s * 1e6:.1f} us per fire, measured alone)",
                  f"{machines_s:.2f} s ({machines_s / fleet_wall:.0%})", "")
    without = sim_events / max(1e-9, fleet_wall - machines_s)
    table.add_row("harness without spec-machine execution / raw SimPy", f"{without / raw_rate:.0%}", "")
    catalogue_wall, outcomes = run_catalogue(min(2, cores))
    table.add_row(f"catalogue ({len(outcomes)} scenarios, determinism re-run, {min(2, cores)} processes)",
                  f"{catalogue_wall:.1f} s", "< 120 s")
    console.print(table)
    per = Table(title="simulated-to-wall ratio per scenario (one run each)")
    for column in ("scenario", "sim s", "wall s", "sim/wall", "events"):
        per.add_column(column, justify="left" if column == "scenario" else "right")
    for o in outcomes:
        per.add_row(o.name, f"{o.sim_time_s:.0f}", f"{o.wall_s:.3f}", f"{o.sim_to_wall:,.0f}", f"{o.events:,}")
    console.print(per)
    return 0
