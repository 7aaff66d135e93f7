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
    check_graceful_shutdown,
    check_recovery_bound,
    check_startup_timeouts,
    recovery_bounds,
)
from sim.model import RunResult
from sim.recorder import Entry

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
    policy = run.scenario.policies.backoff
    violations: list[str] = []
    delays: set[float] = set()
    seen = 0
    for component, events in by_component(run.entries, "retry").items():
        retries = 0
        for before, after in zip(events, events[1:], strict=False):
            if before.trigger == "fail_retryable":
                retries += 1
            if before.trigger != "fail_retryable" or after.trigger != "retry":
                continue
            seen += 1
            measured = after.time - before.time
            expected = policy.delay_s(retries)
            delays.add(round(measured, 6))
            spread = expected * policy.jitter + EPS
            if abs(measured - expected) > spread:
                violations.append(f"{component}: retry {retries} waited {measured:.6g} s, policy says {expected:g} s")
        if events and events[-1].trigger == "give_up" and retries != policy.max_retries:
            violations.append(f"{component}: gave up after {retries} retries, policy allows {policy.max_retries}")
    return result("retry_schedule", seen, f"{seen} backoff waits; delays {sorted(delays)}",
                   f"delays {policy.schedule()} (jitter {policy.jitter})", violations)


def check_breaker(run: RunResult) -> CheckResult:
    policy = run.scenario.policies.circuit_breaker
    violations: list[str] = []
    trips = 0
    shortest_open: float | None = None
    for component, events in by_component(run.entries, "circuit_breaker").items():
        failures: list[float] = []
        opened_at = 0.0
        for e in events:
            if e.trigger in ("record_failure", "trip"):
                failures = [f for f in failures if e.time - f <= policy.window_s] + [e.time]
                count = len(failures)
                if e.trigger == "trip":
                    trips += 1
                    opened_at = e.time
                    if count != policy.failure_threshold:
                        violations.append(f"{component}: opened at {e.time:.3f} on failure {count} within "
                                          f"{policy.window_s:g} s, threshold is {policy.failure_threshold}")
                    failures = []
                elif count >= policy.failure_threshold:
                    violations.append(f"{component}: failure {count} within the window at {e.time:.3f} did not open it")
            elif e.trigger == "reject" and e.time - opened_at >= policy.open_duration_s - EPS:
                violations.append(f"{component}: call rejected at {e.time:.3f}, {e.time - opened_at:.3f} s after "
                                  f"opening; the open duration is {policy.open_duration_s:g} s")
            elif e.trigger == "probe":
                held = e.time - opened_at
                shortest_open = held if shortest_open is None else min(shortest_open, held)
                if held < policy.open_duration_s - EPS:
                    violations.append(f"{component}: trial after {held:.3f} s open, open duration is "
                                      f"{policy.open_duration_s:g} s")
            elif e.trigger == "trial_failed":
                opened_at = e.time
            elif e.trigger == "trial_succeeded":
                failures = []
        trials_in_flight = 0
        for e in events:
            if e.trigger == "probe":
                trials_in_flight += 1
            elif e.trigger in ("trial_succeeded", "trial_failed"):
                trials_in_flight -= 1
            if trials_in_flight > policy.half_open_max_trials:
                violations.append(f"{component}: {trials_in_flight} trials in flight at {e.time:.3f}")
    measured = f"{trips} trips; shortest open period {shortest_open if shortest_open is not None else '-'} s"
    expected = (f"open on failure {policy.failure_threshold} within {policy.window_s:g} s; open "
                f"{policy.open_duration_s:g} s; {policy.half_open_max_trials} trial")
    return result("breaker", trips, measured, expected, violations)


def check_rate_limit_wait(run: RunResult) -> CheckResult:
    policy = run.scenario.policies.rate_limit
    violations: list[str] = []
    waits: set[float] = set()
    seen = 0
    for component, events in by_component(run.entries, "rate_limit").items():
        for before, after in zip(events, events[1:], strict=False):
            if not before.trigger.startswith("limited_") or after.trigger != "retry":
                continue
            seen += 1
            retry_after = data_of(before, "retry_after_s")
            expected = policy.wait_s(float(retry_after) if isinstance(retry_after, int | float) else None)
            measured = after.time - before.time
            waits.add(round(measured, 6))
            if abs(measured - expected) > EPS:
                violations.append(f"{component}: waited {measured:.6g} s after a 429 "
                                  f"(Retry-After {retry_after}), policy says {expected:g} s")
    return result("rate_limit_wait", seen, f"{seen} waits; {sorted(waits)} s",
                   f"Retry-After when sent, else {policy.default_delay_s:g} s", violations)


_LIVENESS = frozenset({"heartbeat", "capabilities_accepted", "health_restored"})
#: States in which a (re)started orchestrator serves again and gives every worker a fresh timeout.
_SERVING = frozenset({"running", "degraded", "recovered"})
_LIVE = frozenset({"idle", "polling", "busy"})
_TASK_END = frozenset({"complete", "fail", "time_out", "allocation_failed", "interrupt", "lease_lost"})


def _holders_at_detection(entries: list[Entry]) -> tuple[list[tuple[Entry, list[str]]], set[tuple[float, str]]]:
    holder: dict[str, str] = {}
    detections: list[tuple[Entry, list[str]]] = []
    requeued: set[tuple[float, str]] = set()
    for e in entries:
        if e.machine == "task_lifecycle":
            if e.trigger == "assign":
                holder[e.component] = str(data_of(e, "worker"))
            elif e.trigger in _TASK_END:
                holder.pop(e.component, None)
                if e.trigger == "lease_lost":
                    requeued.add((e.time, e.component))
        elif e.machine == "worker_lifecycle" and e.trigger == "heartbeats_missed":
            worker = e.component.removeprefix("worker:")
            detections.append((e, [t for t, w in holder.items() if w == worker]))
    return detections, requeued


def check_heartbeat_detection(run: RunResult) -> CheckResult:
    hb = run.scenario.policies.heartbeat
    low, high = hb.detection_window_s()
    violations: list[str] = []
    last_live: dict[str, float] = {}
    resets: list[float] = []
    gaps: list[float] = []
    for e in run.entries:
        if e.machine == "worker_lifecycle" and e.trigger in _LIVENESS:
            last_live[e.component] = e.time
        elif e.dest in _SERVING and e.machine in ("orchestrator_recovery", "orchestrator_startup"):
            resets.append(e.time)
        elif e.machine == "worker_lifecycle" and e.trigger == "heartbeats_missed":
            last = max([last_live.get(e.component, 0.0)] + [r for r in resets if r <= e.time])
            gap = e.time - last
            gaps.append(gap)
            if not low - EPS <= gap <= high + EPS:
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
    disturbances = run.ledger.orchestrator_crashes + [
        e.time for e in run.entries if e.machine == "orchestrator_shutdown" and e.trigger == "stop"]
    for worker, downs in run.ledger.worker_down.items():
        for start, end in downs:
            before = [e for e in run.entries if e.component == f"worker:{worker}" and e.time <= start]
            live = bool(before) and before[-1].dest in _LIVE
            # Detection is due `high` after the later of its last heartbeat and any restart of the
            # orchestrator that gave every worker a fresh timeout before then.
            base = max([e.time for e in before if e.trigger in _LIVENESS], default=start)
            while (later := max([base] + [r for r in resets if r <= base + high])) != base:
                base = later
            limit = base + high
            stays_down = end is None or end > limit
            if not (stays_down and live) or limit > run.sim_time_s or any(
                    start - high <= d <= limit for d in disturbances):
                continue
            if not any(start <= t <= limit + EPS for t in detected_at.get(worker, [])):
                violations.append(f"{worker}: crashed at {start:.3f}, not detected within {high:g} s")
    measured = f"{len(gaps)} detections; gaps {min(gaps):.3f}..{max(gaps):.3f} s" if gaps else "no detections"
    return result("heartbeat_detection", len(gaps), measured,
                   f"detected in [{low:g}, {high:g}] s after the last heartbeat; its tasks re-queued", violations)


def check_exactly_once(run: RunResult) -> CheckResult:
    completes: dict[str, int] = defaultdict(int)
    reasons: dict[str, str] = {}
    for e in run.entries:
        if e.machine != "task_lifecycle":
            continue
        if e.trigger == "complete":
            completes[e.component] += 1
        elif e.trigger in ("fail", "time_out", "allocation_failed"):
            reasons[e.component] = str(data_of(e, "reason") or "")
    violations: list[str] = []
    completed = failed = 0
    for task_id in run.ledger.accepted:
        component = f"task:{task_id}"
        state = run.final_task_states.get(task_id, "missing")
        count = completes.get(component, 0)
        if count > 1:
            violations.append(f"{component}: completed {count} times")
        if state == "completed" and count == 1:
            completed += 1
        elif state == "failed":
            failed += 1
            if not reasons.get(component):
                violations.append(f"{component}: failed without a reason")
        elif state != "completed":
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
}


def run_checks(run: RunResult) -> list[CheckResult]:
    results = [check(run) for check in CHECKS.values()]
    expect = run.scenario.expect
    for checked in results:
        if checked.status == NA and checked.name in expect.exercises:
            checked.status = FAIL
            checked.violations.append("the scenario exists to exercise this check, but the run never did")
    fired = {f"{e.machine}.{e.trigger}" for e in run.entries}
    missing = [t for t in expect.transitions if t not in fired]
    if expect.transitions:
        results.append(CheckResult("expected_transitions", FAIL if missing else PASS,
                                   f"{len(expect.transitions) - len(missing)} of {len(expect.transitions)} fired",
                                   ", ".join(expect.transitions), [f"{t} never fired" for t in missing]))
    completed = sum(1 for s in run.final_task_states.values() if s == "completed")
    if completed < expect.min_completed:
        results.append(CheckResult("min_completed", FAIL, str(completed), f">= {expect.min_completed}",
                                   [f"only {completed} tasks completed"]))
    return results
