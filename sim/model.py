"""Builds the SimPy model of one scenario and runs it (issue 5, "The model").

Orchestrator, task queue, N workers, clients, links, database and the external services,
all driven by `spec.machines` and `spec.policies`. A run ends once the scenario's duration has
passed, every submission has been answered and every accepted task is completed or failed, or
at ``duration_s + settle_timeout_s``, whichever comes first.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import simpy

from sim.client import Client
from sim.faults import schedule_faults
from sim.links import EXTERNAL_SERVICES
from sim.orchestrator import Orchestrator
from sim.orchestrator_lifecycle import Lifecycle
from sim.recorder import Entry, TraceRecorder
from sim.replicas import ReplicaSet
from sim.resilience import SharedService
from sim.scenario import Scenario
from sim.worker import Worker
from sim.world import ORCH_ID, WORKER_ID, Ledger, World

#: How often the run checks whether everything has settled, in simulated seconds.
SETTLE_POLL_S = 1.0
#: Allocations between two young-generation collections while a model runs (default 700).
GC_THRESHOLD = 50_000


@dataclass
class RunResult:
    scenario: Scenario
    seed: int
    entries: list[Entry]
    recorder: TraceRecorder
    ledger: Ledger
    digest: str
    sim_time_s: float
    wall_s: float
    settled: bool
    final_task_states: dict[str, str]

    @property
    def sim_to_wall(self) -> float:
        return self.sim_time_s / self.wall_s if self.wall_s > 0 else float("inf")


class Model:
    def __init__(self, scenario: Scenario, seed: int | None = None) -> None:
        self.scenario = scenario
        self.seed = scenario.seed if seed is None else seed
        self.world = World(scenario, self.seed)
        self.orchestrator = Orchestrator(self.world)
        self.lifecycle = Lifecycle(self.orchestrator)
        self.replicas = (ReplicaSet(self.world, self.orchestrator.grant_heartbeat_grace)
                         if scenario.topology.replicas > 1 else None)
        if self.replicas is not None:
            self.orchestrator.has_leader = self.replicas.has_leader
        breakers = {s.id: SharedService(self.world, s.id) for s in EXTERNAL_SERVICES}
        self.workers = [Worker(self.world, self.orchestrator, i, breakers)
                        for i in range(1, scenario.topology.workers + 1)]
        by_id = {w.id: w for w in self.workers}

        def cancel(worker_id: str, task_id: str, token: int) -> None:
            delivered, delay = self.world.transit(ORCH_ID, WORKER_ID, by_id[worker_id].index)
            if delivered:
                self.world.env.timeout(delay).callbacks.append(
                    lambda _e: by_id[worker_id].request_cancel(task_id, token))

        self.orchestrator.cancel_hook = cancel
        self.client = Client(self.world, self.orchestrator)

    def settled(self) -> bool:
        orch = self.orchestrator
        return (self.client.done and orch.up and not orch.busy_lifecycle
                and orch.settled == len(self.world.ledger.accepted))

    def _watch(self) -> Generator[simpy.Event, Any, None]:
        env = self.world.env
        yield env.timeout(self.scenario.duration_s)
        while not self.settled():
            yield env.timeout(SETTLE_POLL_S)

    def run(self) -> RunResult:
        env = self.world.env
        began = time.perf_counter()
        schedule_faults(self.world, self.lifecycle, self.workers, self.replicas)
        self.lifecycle.start()
        if self.replicas is not None:
            self.replicas.start()
        for worker in self.workers:
            worker.boot()
        self.client.start()
        watch = env.process(self._watch())
        # The trace grows by hundreds of thousands of small tuples that live for the whole run;
        # with the default thresholds the collector re-scans them again and again (~25% of a
        # long run). Collect less often while the model runs.
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], GC_THRESHOLD), *thresholds[1:])
        try:
            env.run(until=watch | env.timeout(self.scenario.horizon_s))
        finally:
            gc.set_threshold(*thresholds)
        wall = time.perf_counter() - began
        recorder = self.world.recorder
        return RunResult(
            scenario=self.scenario,
            seed=self.seed,
            entries=recorder.entries,
            recorder=recorder,
            ledger=self.world.ledger,
            digest=recorder.digest(),
            sim_time_s=env.now,
            wall_s=wall,
            settled=watch.triggered,
            final_task_states={t.id: t.machine.state for t in self.orchestrator.tasks.values()},
        )


def run_scenario(scenario: Scenario, seed: int | None = None) -> RunResult:
    return Model(scenario, seed).run()
