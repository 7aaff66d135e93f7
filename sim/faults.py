"""Fault injection: turns a scenario's fault schedule into events on the model (issue 5, "Faults, as data").

Windowed faults (network, database, services, slow tasks, exhaustion) are passive: the model
asks `sim.world.FaultBook` what is broken when it sends a message or starts a task. Crashes,
restarts and shutdowns are actions scheduled here as plain SimPy callbacks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import simpy

from sim.orchestrator_lifecycle import Lifecycle
from sim.replicas import ReplicaSet
from sim.scenario import GracefulShutdown, OrchestratorCrash, ReplicaCrash, WorkerCrash, WorkerShutdown
from sim.worker import Worker
from sim.world import World


def _at(env: simpy.Environment, when: float, action: Callable[[], None]) -> None:
    env.timeout(max(0.0, when - env.now)).callbacks.append(lambda _e: action())


def schedule_faults(world: World, lifecycle: Lifecycle, workers: Sequence[Worker],
                    replicas: ReplicaSet | None = None) -> None:
    env = world.env
    for fault in world.scenario.faults:
        if isinstance(fault, WorkerCrash):
            worker = workers[fault.worker - 1]
            _at(env, fault.at, worker.crash)
            if fault.restart_after is not None:
                _at(env, fault.at + fault.restart_after, worker.restart)
        elif isinstance(fault, WorkerShutdown):
            _at(env, fault.at, workers[fault.worker - 1].stop_gracefully)
        elif isinstance(fault, OrchestratorCrash):
            _at(env, fault.at, lifecycle.crash)
            _at(env, fault.at + fault.restart_after, lifecycle.recover)
        elif isinstance(fault, GracefulShutdown):
            _at(env, fault.at, partial(lifecycle.shutdown, fault.restart_after))
        elif isinstance(fault, ReplicaCrash) and replicas is not None:  # the schema requires replicas >= 2
            _at(env, fault.at, partial(replicas.crash, fault.replica))
            if fault.restart_after is not None:
                _at(env, fault.at + fault.restart_after, partial(replicas.restart, fault.replica))
