"""Run one generated `Schedule` against the in-process runtime and check every property on it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.store.locations import PostgresLocation
from spec.conformance import check_trace
from spec.injected_faults import ProcessFault
from spec.policies import Policies
from tests.conformance.properties import (
    completion_findings,
    conformance_findings,
    per_attempt,
    routing_findings,
)
from tests.conformance.runtime_under_test import RuntimeUnderTest
from tests.conformance.scaled_clock import SCALE, TOLERANCE_S
from tests.conformance.schedules import CAPABILITIES, Fault, Schedule

RESCUE = "rescue"


@dataclass
class RunOutcome:
    run: RuntimeUnderTest
    views: list[dict[str, Any]] = field(default_factory=list)
    error: BaseException | None = None


def worker_name(index: int) -> str:
    return f"w{index}"


async def _apply(run: RuntimeUnderTest, schedule: Schedule, fault: Fault) -> None:
    policies = run.policies
    await asyncio.sleep(fault.after_s * SCALE)
    name = worker_name(fault.worker % len(schedule.workers))
    if fault.kind == ProcessFault.WORKER_KILL:
        await run.kill_worker(name)
    elif fault.kind == ProcessFault.WORKER_SIGTERM:
        await run.sigterm_worker(name)
    elif fault.kind == ProcessFault.HEARTBEAT_LOSS:
        await run.lose_heartbeats(name, 2 * policies.heartbeat.timeout_s + policies.heartbeat.interval_s)
    elif fault.kind == ProcessFault.ORCHESTRATOR_RESTART:
        await run.restart_orchestrator()
    else:  # pragma: no cover - the strategy only draws known kinds
        raise ValueError(f"unknown fault kind {fault.kind!r}")


async def execute(schedule: Schedule, root: Path, policies: Policies, db: PostgresLocation | None = None) -> RunOutcome:
    """Start, submit, inject the faults, rescue, wait for every task, stop gracefully (store: SQLite or `db`)."""
    run = RuntimeUnderTest(root, policies, schedule.provider, db=db)
    outcome = RunOutcome(run)
    try:
        await run.start_orchestrator()
        for index, spec in enumerate(schedule.workers):
            await run.start_worker(worker_name(index), spec.capabilities)
        for task in schedule.tasks:
            await run.submit(task, step_s=policies.progress.interval_s)
        for fault in schedule.faults:
            await _apply(run, schedule, fault)
        await run.start_worker(RESCUE, CAPABILITIES)  # someone able to finish whatever is left
        outcome.views = await run.wait_settled(give_up=lambda: _diverges(run))
    except Exception as exc:  # reported with the schedule and the actions taken
        outcome.error = exc
    finally:
        await run.close(hard=outcome.error is not None)
    return outcome


def _diverges(run: RuntimeUnderTest) -> str | None:
    report = check_trace(run.orchestrator_events(), policies=run.policies, tolerance_s=TOLERANCE_S)
    return None if report.ok else "the orchestrator's trace already diverges from the spec"


def findings(schedule: Schedule, outcome: RunOutcome) -> list[str]:
    run = outcome.run
    found: list[str] = []
    if outcome.error is not None:
        found.append(f"the run failed: {type(outcome.error).__name__}: {outcome.error}")
    orchestrator = run.orchestrator_events()
    workers = run.worker_events()
    traces: dict[str, tuple[list[Any], bool]] = {"orchestrator": (orchestrator, True)}
    for name, events in workers.items():
        traces[f"worker {name}"] = (per_attempt(events), False)  # a worker's task view starts at "assigned"
    traces["resilience (AI provider calls)"] = (run.resilience_events, True)
    found += conformance_findings(traces, run.policies, TOLERANCE_S)
    if outcome.error is None:
        found += completion_findings(outcome.views, orchestrator, workers, run.task_ids)
    capabilities = {worker_name(i): {"python", *w.capabilities} for i, w in enumerate(schedule.workers)}
    capabilities[RESCUE] = {"python", *CAPABILITIES}
    requires = {task_id: set(spec.requires) for task_id, spec in zip(run.task_ids, schedule.tasks, strict=False)}
    found += routing_findings(orchestrator, capabilities, requires)
    return found


def report(schedule: Schedule, outcome: RunOutcome, found: list[str]) -> str:
    """The failing (shrunk) schedule, what was done, and every finding with its diagram."""
    parts = ["minimal failing schedule:", schedule.describe(), "", "actions taken:",
             *(f"  {a}" for a in outcome.run.actions), ""]
    parts += found
    return "\n".join(parts)
