"""Sim–runtime parity (issue 6 §2): the same catalogue scenarios give the same trigger sequences.

The simulator runs ``baseline`` and ``worker_crash`` from ``sim/scenarios`` as they are; the
runtime runs the same definitions in-process on the scaled clock — the scenario's worker count,
a handful of its tasks, and its fault (worker 2 killed while busy, never restarted). Component
ids differ (UUID task ids, instance-tagged orchestrator components), so sequences are compared per
machine type, as the *set* of distinct normalised per-component trigger sequences.

What is compared, and what is normalised away, and why:

* ``orchestrator_startup``: compared exactly — both run every phase in the spec's order.
* ``task_lifecycle``: compared with ``progress`` removed. How many progress reports a task sends
  depends on its duration over ``ProgressPolicy.interval_s``; the simulator draws durations from
  the scenario's distribution, the runtime's tasks are short. Everything else — assign, start,
  complete, and for the crashed worker's task lease_lost, assign, start, complete — must match.
* ``worker_lifecycle``: compared with the idle-loop triggers removed (``heartbeat``, ``poll``,
  ``no_task_available``; their counts depend on timing) and only a worker's last task kept (its
  task_received and, if it got that far, task_finished): how many tasks a worker gets depends on
  timing. The runtime's
  final ``deregister`` comes from the test's teardown (SIGTERM), which the scenario does not
  contain, and is dropped. The crashed worker must end with ``task_received, heartbeats_missed``
  in both.
* Machines only one side has are not compared: the simulator traces the breakers of its
  external services even when no call fails; the runtime traces workflows, shutdown and the
  worker-side task views. Those are covered by the runtime conformance tests instead.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pytest

from sim.catalogue import resolve
from sim.model import run_scenario
from sim.scenario import WorkerCrash
from spec.machines import WORKER_LIFECYCLE
from spec.trace import TraceEvent
from tests.conformance.runtime_under_test import RuntimeUnderTest, until
from tests.conformance.scaled_clock import runtime_policies
from tests.conformance.schedules import TaskSpec

#: Tasks the runtime runs per scenario (the simulator runs the scenario's full workload).
RUNTIME_TASKS = 4
BUSY = WORKER_LIFECYCLE.next_state("polling", "task_received")
IDLE_LOOP = frozenset({"heartbeat", "poll", "no_task_available"})
COMPARED = ("orchestrator_startup", "task_lifecycle", "worker_lifecycle")


def _collapse_task_pairs(triggers: list[str]) -> list[str]:
    """Keep only the last task: a task_received after a finished task replaces that pair."""
    out: list[str] = []
    for trigger in triggers:
        if trigger == "task_received" and out[-2:] == ["task_received", "task_finished"]:
            del out[-2:]
        out.append(trigger)
    return out


def normalise(machine: str, triggers: list[str], *, teardown: bool = False) -> tuple[str, ...]:
    if machine == "task_lifecycle":
        return tuple(t for t in triggers if t != "progress")
    if machine == "worker_lifecycle":
        kept = [t for t in triggers if t not in IDLE_LOOP]
        if teardown and kept and kept[-1] == "deregister":
            kept.pop()
        return tuple(_collapse_task_pairs(kept))
    return tuple(triggers)


def sequences(events: Iterable[TraceEvent], *, teardown: bool = False) -> dict[str, set[tuple[str, ...]]]:
    per_component: dict[tuple[str, str], list[str]] = defaultdict(list)
    for e in events:
        if e.machine in COMPARED:
            per_component[(e.machine, e.component)].append(e.trigger)
    out: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for (machine, _), triggers in per_component.items():
        out[machine].add(normalise(machine, triggers, teardown=teardown))
    return dict(out)


async def _run_in_runtime(root: Path, workers: int, crash: WorkerCrash | None) -> RuntimeUnderTest:
    policies = runtime_policies()
    run = RuntimeUnderTest(root, policies)
    try:
        await run.start_orchestrator()
        for index in range(1, workers + 1):
            await run.start_worker(f"worker-{index}", ())
        # Long enough that the victim is busy when it is killed, as in the scenario.
        for _ in range(RUNTIME_TASKS):
            await run.submit(TaskSpec(priority=5, requires=(), steps=4), step_s=policies.progress.interval_s)
        if crash is not None:
            victim = f"worker-{crash.worker}"
            await until(lambda: run.workers[victim].worker.state == BUSY, f"{victim} to be busy")
            # Busy is the worker's view (task_received); the scenario kills a worker whose task has
            # *started*, so wait until the orchestrator has committed that start too.
            await until(lambda: any(e.machine == "task_lifecycle" and e.trigger == "start"
                                    and e.data.get("workerId") == victim for e in run.orchestrator_events()),
                        f"{victim}'s task to start on the orchestrator")
            await run.kill_worker(victim)
            await until(lambda: any(e.trigger == "heartbeats_missed" for e in run.orchestrator_events()),
                        f"the orchestrator to declare {victim} lost")
        await run.wait_settled()
    finally:
        await run.close()
    return run


@pytest.mark.parametrize("name", ["baseline", "worker_crash"])
def test_simulator_and_runtime_give_the_same_trigger_sequences(name: str, tmp_path: Path) -> None:
    scenario = resolve(name)
    crashes = [f for f in scenario.faults if isinstance(f, WorkerCrash)]
    assert all(f.restart_after is None for f in crashes), "parity runs model crashes without restart"
    simulated = sequences(run_scenario(scenario).recorder.events())
    run = asyncio.run(_run_in_runtime(tmp_path, scenario.topology.workers, crashes[0] if crashes else None))
    actual = sequences(run.orchestrator_events(), teardown=True)
    for machine in COMPARED:
        assert actual.get(machine) == simulated.get(machine), (
            f"{name}: {machine} differs between simulator and runtime\n"
            f"  simulator: {sorted(simulated.get(machine, set()))}\n  runtime:   {sorted(actual.get(machine, set()))}")
