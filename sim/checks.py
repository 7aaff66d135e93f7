"""Checks derived from the spec, read from a run's trace and ledger (issue 5, "Checks derived from the spec").

Each check compares what the trace shows with what `spec.policies` prescribes and reports the
measured and the expected value. A check with nothing to look at reports ``n/a``; a scenario's
``expect.exercises`` turns ``n/a`` into a failure for the checks it exists to exercise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from sim.check_result import EPS, FAIL, NA, PASS, CheckResult, by_component, data_of, result
from sim.lifecycle_checks import (
    check_failover,
    check_graceful_shutdown,
    check_recovery_bound,
    check_startup_timeouts,
    recovery_bounds,
)
from sim.model import RunResult
from sim.recorder import Entry
from sim.scenario import ReplicaCrash
from spec.decisions.liveness import HEARTBEAT_GRACE, LivenessRules
from spec.decisions.replay import BreakerReplay, RateLimitReplay, RetryReplay
from spec.machines.leader_election import LEADER_ELECTION, STEP_DOWN_TRIGGERS, LeaderState
from spec.machines.shutdown import OrchestratorShutdownTrigger
from spec.machines.task_lifecycle import ATTEMPT_ENDING_TRIGGERS, SETTLING_TRIGGERS, TaskState, TaskTrigger
from spec.machines.worker_lifecycle import LIVE_STATES, LIVENESS_TRIGGERS, WorkerTrigger
from spec.trace import TraceKey

__all__ = [
    "CHECKS",
    "EPS",
    "FAIL",
    "NA",
    "PASS",
    "CheckResult",
    "check_breaker",
    "check_exactly_once",
    "check_graceful_shutdown",
    "check_heartbeat_detection",
    "check_rate_limit_wait",
    "check_recovery_bound",
    "check_retry_schedule",
    "check_startup_timeouts",
    "recovery_bounds",
    "run_checks",
]


def check_retry_schedule(run: RunResult) -> CheckResult:
    """Every backoff wait within the schedule's jitter range, and no give-up with retries left (`RetryReplay`)."""
    policy = run.scenario.policies.backoff
    violations: list[str] = []
    delays: set[float] = set()
    seen = 0
    for component, events in by_component(run.entries, "retry").items():
        replay = RetryReplay(policy)
        for e in events:
            violation = replay.observe(e.trigger, e.time)
            if violation is not None:
                violations.append(f"{component} at {e.time:.3f}: {violation}")
        seen += len(replay.waits)
        delays.update(round(w, 6) for w in replay.waits)
    return result("retry_schedule", seen, f"{seen} backoff waits; delays {sorted(delays)}",
                   f"delays {policy.schedule()} (jitter {policy.jitter}, cap {policy.max_delay_s:g} s)", violations)


def check_breaker(run: RunResult) -> CheckResult:
    """Trips, trials and rejections of every breaker against the spec's window and open duration (`BreakerReplay`)."""
    policy = run.scenario.policies.circuit_breaker
    violations: list[str] = []
    trips = 0
    open_periods: list[float] = []
    for component, events in by_component(run.entries, "circuit_breaker").items():
        replay = BreakerReplay(policy)
        for e in events:
            violation = replay.observe(e.trigger, e.time)
            if violation is not None:
                violations.append(f"{component} at {e.time:.3f}: {violation}")
        trips += replay.trips
        open_periods.extend(replay.open_periods)
    shortest = f"{min(open_periods):.6g}" if open_periods else "-"
    measured = f"{trips} trips; shortest open period {shortest} s"
    expected = (f"open on failure {policy.failure_threshold} within {policy.window_s:g} s; open "
                f"{policy.open_duration_s:g} s; {policy.half_open_max_trials} trial")
    return result("breaker", trips, measured, expected, violations)


def check_rate_limit_wait(run: RunResult) -> CheckResult:
    """Every wait after a 429 is the honoured Retry-After or the default (`RateLimitReplay`)."""
    policy = run.scenario.policies.rate_limit
    violations: list[str] = []
    waits: set[float] = set()
    seen = 0
    for component, events in by_component(run.entries, "rate_limit").items():
        replay = RateLimitReplay(policy)
        for e in events:
            violation = replay.observe(e.trigger, e.time, data_of(e, TraceKey.RETRY_AFTER_S))
            if violation is not None:
                violations.append(f"{component} at {e.time:.3f}: {violation}")
        seen += len(replay.waits)
        waits.update(round(w, 6) for w in replay.waits)
    return result("rate_limit_wait", seen, f"{seen} waits; {sorted(waits)} s",
                   f"Retry-After when sent, else {policy.default_delay_s:g} s", violations)



def _grace_times(entries: list[Entry]) -> list[float]:
    """When sweeping (re)started with a fresh timeout for every worker (`HEARTBEAT_GRACE`), in order."""
    return [e.time for e in entries if (e.machine, e.trigger) in HEARTBEAT_GRACE]


def _sweep_stops(run: RunResult) -> list[float]:
    """When sweeping stopped, in order: the orchestrator crashed or was stopped, the leader replica
    stepped down, or the leader replica crashed (a standby's crash stops nothing)."""
    stops = list(run.ledger.orchestrator_crashes)
    leading: dict[int, list[tuple[float, bool]]] = defaultdict(list)
    for e in run.entries:
        if e.machine == "orchestrator_shutdown" and e.trigger == OrchestratorShutdownTrigger.STOP:
            stops.append(e.time)
        elif e.machine == LEADER_ELECTION.name:
            if e.trigger in STEP_DOWN_TRIGGERS:
                stops.append(e.time)
            replica = int(e.component.removeprefix("replica-").split("#", 1)[0])
            leading[replica].append((e.time, e.dest == LeaderState.LEADING))
    for fault in run.scenario.faults:
        if isinstance(fault, ReplicaCrash):
            before = [led for at, led in leading.get(fault.replica, []) if at <= fault.at]
            if before and before[-1]:
                stops.append(fault.at)
    return sorted(stops)


def _holders_at_detection(entries: list[Entry]) -> tuple[list[tuple[Entry, list[str]]], set[tuple[float, str]]]:
    holder: dict[str, str] = {}
    detections: list[tuple[Entry, list[str]]] = []
    requeued: set[tuple[float, str]] = set()
    for e in entries:
        if e.machine == "task_lifecycle":
            if e.trigger == TaskTrigger.ASSIGN:
                holder[e.component] = str(data_of(e, TraceKey.WORKER_ID))
            elif e.trigger in ATTEMPT_ENDING_TRIGGERS:
                holder.pop(e.component, None)
                if e.trigger == TaskTrigger.LEASE_LOST:
                    requeued.add((e.time, e.component))
        elif e.machine == "worker_lifecycle" and e.trigger == WorkerTrigger.HEARTBEATS_MISSED:
            worker = e.component.removeprefix("worker:")
            detections.append((e, [t for t, w in holder.items() if w == worker]))
    return detections, requeued


def check_heartbeat_detection(run: RunResult) -> CheckResult:
    """Every detection inside the window, every crashed worker detected by when the spec says it is
    due (`LivenessRules.detection_due`: from its last heartbeat or the grace of a later restart,
    and not while nothing sweeps), and its tasks re-queued at the detection."""
    hb = run.scenario.policies.heartbeat
    rules = LivenessRules(hb, run.scenario.policies.lease)
    low, high = hb.detection_window_s()
    violations: list[str] = []
    last_live: dict[str, float] = {}
    graces = _grace_times(run.entries)
    stops = _sweep_stops(run)
    gaps: list[float] = []
    for e in run.entries:
        if e.machine == "worker_lifecycle" and e.trigger in LIVENESS_TRIGGERS:
            last_live[e.component] = e.time
        elif e.machine == "worker_lifecycle" and e.trigger == WorkerTrigger.HEARTBEATS_MISSED:
            last = max([last_live.get(e.component, 0.0)] + [g for g in graces if g <= e.time])
            gap = e.time - last
            gaps.append(gap)
            if not rules.detected_in_time(gap, EPS):
                violations.append(f"{e.component}: detected {gap:.3f} s after its last heartbeat, "
                                  f"window is [{low:g}, {high:g}] s")
    detections, requeued = _holders_at_detection(run.entries)
    for e, tasks in detections:
        for task in tasks:
            if (e.time, task) not in requeued:
                violations.append(f"{task}: held by {e.component} detected at {e.time:.3f} but not re-queued then")
    detected_at: dict[str, list[float]] = defaultdict(list)
    for e, _ in detections:
        detected_at[e.component.removeprefix("worker:")].append(e.time)
    for worker, downs in run.ledger.worker_down.items():
        for start, end in downs:
            before = [e for e in run.entries if e.component == f"worker:{worker}" and e.time <= start]
            if not before or before[-1].dest not in LIVE_STATES:
                continue
            last_seen = max([e.time for e in before if e.trigger in LIVENESS_TRIGGERS], default=start)
            due = rules.detection_due(last_seen, graces, stops)
            if due is None or due > run.sim_time_s or (end is not None and end <= due):
                continue  # nothing sweeps again, the run ends first, or the worker is back in time
            if not any(start <= t <= due + EPS for t in detected_at.get(worker, [])):
                violations.append(f"{worker}: crashed at {start:.3f}, not detected by {due:.3f} "
                                  f"({high:g} s after its last heartbeat or the restart's grace)")
    measured = f"{len(gaps)} detections; gaps {min(gaps):.3f}..{max(gaps):.3f} s" if gaps else "no detections"
    return result("heartbeat_detection", len(gaps), measured,
                   f"detected in [{low:g}, {high:g}] s after the last heartbeat; its tasks re-queued", violations)


def check_exactly_once(run: RunResult) -> CheckResult:
    completes: dict[str, int] = defaultdict(int)
    reasons: dict[str, str] = {}
    for e in run.entries:
        if e.machine != "task_lifecycle":
            continue
        if e.trigger == TaskTrigger.COMPLETE:
            completes[e.component] += 1
        elif e.trigger in SETTLING_TRIGGERS:
            reasons[e.component] = str(data_of(e, TraceKey.REASON) or "")
    violations: list[str] = []
    completed = failed = 0
    for task_id in run.ledger.accepted:
        component = f"task:{task_id}"
        state = run.final_task_states.get(task_id, "missing")
        count = completes.get(component, 0)
        if count > 1:
            violations.append(f"{component}: completed {count} times")
        if state == TaskState.COMPLETED and count == 1:
            completed += 1
        elif state == TaskState.FAILED:
            failed += 1
            if not reasons.get(component):
                violations.append(f"{component}: failed without a reason")
        elif state != TaskState.COMPLETED:
            violations.append(f"{component}: lost (still {state} at {run.sim_time_s:.1f} s)")
    accepted = len(run.ledger.accepted)
    measured = (f"{accepted} accepted: {completed} completed once, {failed} failed with a reason, "
                f"{accepted - completed - failed} other")
    return result("exactly_once", accepted, measured, "every accepted task completed once or failed with a reason",
                   violations)


CHECKS: dict[str, Callable[[RunResult], CheckResult]] = {
    "retry_schedule": check_retry_schedule,
    "breaker": check_breaker,
    "rate_limit_wait": check_rate_limit_wait,
    "heartbeat_detection": check_heartbeat_detection,
    "exactly_once": check_exactly_once,
    "graceful_shutdown": check_graceful_shutdown,
    "startup_timeouts": check_startup_timeouts,
    "recovery_bound": check_recovery_bound,
    "failover": check_failover,
}


def run_checks(run: RunResult) -> list[CheckResult]:
    results = [check(run) for check in CHECKS.values()]
    expect = run.scenario.expect
    for checked in results:
        if checked.status == NA and checked.name in expect.exercises:
            checked.status = FAIL
            checked.expectation = True
            checked.violations.append("the scenario exists to exercise this check, but the run never did")
    fired = {f"{e.machine}.{e.trigger}" for e in run.entries}
    missing = [t for t in expect.transitions if t not in fired]
    if expect.transitions:
        results.append(CheckResult("expected_transitions", FAIL if missing else PASS,
                                   f"{len(expect.transitions) - len(missing)} of {len(expect.transitions)} fired",
                                   ", ".join(expect.transitions), [f"{t} never fired" for t in missing],
                                   expectation=True))
    completed = sum(1 for s in run.final_task_states.values() if s == TaskState.COMPLETED)
    if completed < expect.min_completed:
        results.append(CheckResult("min_completed", FAIL, str(completed), f">= {expect.min_completed}",
                                   [f"only {completed} tasks completed"], expectation=True))
    return results
