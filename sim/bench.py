"""``python -m sim bench``: performance figures, printed, never asserted (issue 5, "Performance").

* harness event rate: SimPy events per wall second in the model (1,000 heartbeating workers)
  against raw SimPy processing the same number of timeout events, and against a plain-SimPy
  program of the same fleet (``sim.plain_fleet``): no target, the two ratios say what executing
  the spec costs (issue 11 retired the "50% of raw SimPy" goal);
* 1,000 workers with heartbeats for one simulated hour;
* the whole catalogue as ``nox -s simulate`` runs it (determinism re-run included), with the
  simulated-to-wall ratio of each scenario.
"""

from __future__ import annotations

import gc
import os
import time
from collections import Counter
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
from sim.plain_fleet import run_plain_fleet
from sim.scenario import Scenario, Topology, Workload, load_scenario
from spec.machines import MACHINES
from spec.machines.worker_lifecycle import WorkerTrigger
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


@dataclass(frozen=True)
class MachineCosts:
    """Seconds per ``worker_lifecycle`` operation, measured alone (warm caches, a listener attached)."""

    internal_fire: float  # a heartbeat: table lookup only (`MachineInstance.fire` skips `transitions`)
    changing_fire: float  # poll / no_task_available: executed on the `transitions.Machine`
    build: float  # one ``bind``: a `transitions.Machine` per model


def machine_costs(fires: int = 20_000, builds: int = 200) -> MachineCosts:
    seen: list[object] = []
    spec = MACHINES["worker_lifecycle"]
    began = time.perf_counter()
    for _ in range(builds):
        spec.bind(listener=seen.append)
    build = (time.perf_counter() - began) / builds
    machine = spec.bind(listener=seen.append)
    machine.fire(WorkerTrigger.REGISTER)
    machine.fire(WorkerTrigger.CAPABILITIES_ACCEPTED)
    began = time.perf_counter()
    for _ in range(fires):
        machine.fire(WorkerTrigger.HEARTBEAT)
    internal = (time.perf_counter() - began) / fires
    began = time.perf_counter()
    for _ in range(fires // 2):
        machine.fire(WorkerTrigger.POLL)
        machine.fire(WorkerTrigger.NO_TASK_AVAILABLE)
    changing = (time.perf_counter() - began) / (fires // 2 * 2)
    return MachineCosts(internal, changing, build)


def _events_processed(env: simpy.Environment) -> int:
    return next(env._eid)  # SimPy numbers every scheduled event; the counter's next value is the count


@dataclass(frozen=True)
class FleetFigures:
    wall_s: float
    sim_events: int
    trace_events: int
    internal_fires: int  # reflexive transitions: heartbeats
    machines: int  # spec machines bound (one per traced component)

    def machine_work_s(self, costs: MachineCosts) -> float:
        """What this run's machine work costs at `costs`' rates."""
        return (self.internal_fires * costs.internal_fire + (self.trace_events - self.internal_fires)
                * costs.changing_fire + self.machines * costs.build)


def run_fleet() -> FleetFigures:
    """The 1,000-worker hour; only counts are kept, so the trace is freed before anything else is timed."""
    model = Model(fleet_scenario())
    began = time.perf_counter()
    result = model.run()
    wall = time.perf_counter() - began
    kinds = Counter((e.machine, e.source, e.trigger) for e in result.entries)
    internal = sum(n for (machine, source, trigger), n in kinds.items()
                   if MACHINES[machine].transition_for(source, trigger).is_reflexive)
    return FleetFigures(wall, _events_processed(model.world.env), len(result.entries), internal,
                        len({e.component for e in result.entries}))


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
    fleet = run_fleet()
    fleet_wall, sim_events = fleet.wall_s, fleet.sim_events
    # Each measurement starts from a collected heap, so none pays for collecting the fleet model's
    # cyclic garbage (its machines and processes reference each other).
    gc.collect()
    raw_wall = raw_simpy(sim_events)
    gc.collect()
    began = time.perf_counter()
    _, plain_events = run_plain_fleet(fleet_scenario())
    plain_wall = time.perf_counter() - began
    gc.collect()
    harness_rate, raw_rate, plain_rate = sim_events / fleet_wall, sim_events / raw_wall, plain_events / plain_wall
    table = Table(title=f"sim bench ({cores} cores)")
    table.add_column("measure")
    table.add_column("figure", justify="right")
    table.add_column("goal")
    table.add_row(f"{FLEET} workers, 1 simulated hour: wall", f"{fleet_wall:.2f} s", "< 30 s")
    table.add_row("  SimPy events / trace events", f"{sim_events:,} / {fleet.trace_events:,}", "")
    table.add_row("  simulated/wall", f"{HOUR_S / fleet_wall:,.0f}x", "")
    table.add_row("raw SimPy, same event count", f"{raw_rate:,.0f} ev/s", "")
    table.add_row("harness (full model)", f"{harness_rate:,.0f} ev/s", "")
    table.add_row("plain-SimPy model of the same fleet (sim.plain_fleet)",
                  f"{plain_rate:,.0f} ev/s ({plain_events:,} events, {plain_wall:.2f} s)", "")
    table.add_row("harness / plain-SimPy model", f"{harness_rate / plain_rate:.0%}", "")
    table.add_row("harness / raw SimPy", f"{harness_rate / raw_rate:.0%}", "")
    costs = machine_costs()
    machines_s = fleet.machine_work_s(costs)
    changes = fleet.trace_events - fleet.internal_fires
    table.add_row("  of which spec machines, at rates measured alone",
                  f"{machines_s:.2f} s ({machines_s / fleet_wall:.0%})", "")
    table.add_row("    internal fires (heartbeats; no `transitions`)",
                  f"{fleet.internal_fires:,} x {costs.internal_fire * 1e6:.1f} us", "")
    table.add_row("    state changes (executed on `transitions`)",
                  f"{changes:,} x {costs.changing_fire * 1e6:.1f} us", "")
    table.add_row("    machines built", f"{fleet.machines:,} x {costs.build * 1e3:.2f} ms", "")
    without = sim_events / max(1e-9, fleet_wall - machines_s)
    table.add_row("harness without spec-machine work / raw SimPy", f"{without / raw_rate:.0%}", "")
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
