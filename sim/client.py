"""Clients submitting the scenario's workload (seed 4.3's Client/UI) with the spec's backoff.

Arrivals are Poisson (exponential inter-arrival times) or evenly spaced; work per task is
exponential or fixed. Both draw from seeded streams, so a seed fixes the workload.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy

from sim.orchestrator import Orchestrator
from sim.retrying import Verdict, retrying
from sim.rpc import request
from sim.world import Reply, World, stream
from spec.participants import CLIENT


class Client:
    def __init__(self, world: World, orchestrator: Orchestrator) -> None:
        self.world = world
        self.env = world.env
        self.orch = orchestrator
        self.submitted = 0
        self.finished = False
        self.pending = 0
        self._arrivals = stream(world.seed, "arrivals")
        self._work = stream(world.seed, "work")

    def start(self) -> None:
        self.env.process(self._arrive())

    def _arrive(self) -> Generator[simpy.Event, Any, None]:
        load = self.world.scenario.workload
        if load.tasks == 0:
            self.finished = True
            return
        yield self.env.timeout(load.start_s)
        for n in range(1, load.tasks + 1):
            work = self._work.expovariate(1 / load.mean_service_s) if load.service == "exponential" \
                else load.mean_service_s
            self.pending += 1
            self.env.process(self._submit(f"t{n}", work))
            if n < load.tasks:
                gap = self._arrivals.expovariate(load.rate_per_s) if load.arrival == "poisson" else 1 / load.rate_per_s
                yield self.env.timeout(gap)
        self.finished = True

    def _submit(self, task_id: str, work_s: float) -> Generator[simpy.Event, Any, None]:
        timeout = self.world.topology.request_timeout_s

        def attempt() -> Generator[simpy.Event, Any, tuple[Reply, Any]]:
            handler = lambda: self.orch.submit(task_id, work_s)  # noqa: E731
            return (yield from request(self.world, self.orch, CLIENT.id, None, handler, timeout))

        def classify(result: tuple[Reply, Any]) -> Verdict:
            return Verdict.OK if result[0] is Reply.OK else Verdict.RETRY

        reply, _ = yield from retrying(self.world, f"submit:{task_id}", attempt, classify,
                                       reason=lambda r: str(r[0].value))
        if reply is not Reply.OK:
            self.world.ledger.rejected_submissions += 1
        self.pending -= 1

    @property
    def done(self) -> bool:
        return self.finished and self.pending == 0
