"""Checks of the orchestrator's own lifecycle timings: shutdown, startup and recovery (issue 5, §3).

Split from `sim.checks`, which registers them; each compares the trace with `StartupPolicy`,
`ShutdownPolicy` and `HeartbeatPolicy`.
"""

from __future__ import annotations

from collections import defaultdict

from sim.check_result import EPS, CheckResult, by_component, data_of, result
from sim.model import RunResult
from spec.machine import StateRole
from spec.machines import MACHINES
from spec.policies import Policies

_TASK_END = frozenset({"complete", "fail", "time_out", "allocation_failed", "interrupt", "lease_lost"})


def check_graceful_shutdown(run: RunResult) -> CheckResult:
    policy = run.scenario.policies.shutdown
    violations: list[str] = []
    durations: list[float] = []
    starts = sorted(e.time for e in run.entries if e.machine in ("orchestrator_startup", "orchestrator_recovery")
                    and e.trigger in ("start", "restart"))
    assigns = [e for e in run.entries if e.machine == "task_lifecycle" and e.trigger == "assign"]
    for component, events in by_component(run.entries, "orchestrator_shutdown").items():
        began = events[0].time
        ended = next((e.time for e in events if e.dest in ("stopped", "forced_stop")), None)
        restarted = next((t for t in starts if t > began), None)
        if ended is None:
            if restarted is None and run.sim_time_s - began > policy.deadline_s:
                violations.append(f"{component}: started at {began:.3f}, never finished")
        else:
            durations.append(ended - began)
            if ended - began > policy.deadline_s + EPS:
                violations.append(f"{component}: took {ended - began:.3f} s, deadline {policy.deadline_s:g} s")
        until = restarted if restarted is not None else float("inf")
        for a in assigns:
            if began <= a.time < until:
                violations.append(f"{a.component}: leased at {a.time:.3f} after shutdown began at {began:.3f}")
    measured = f"{len(durations)} shutdowns; longest {max(durations):.3f} s" if durations else "no shutdown"
    return result("graceful_shutdown", len(durations), measured,
                   f"<= drain {policy.drain_deadline_s:g} s + grace {policy.cancel_grace_s:g} s; no lease after stop",
                   violations)


def _startup_group(state: str) -> str | None:
    spec_state = MACHINES["orchestrator_startup"].state(state)
    if spec_state.role is not StateRole.TRANSIENT:
        return None
    if spec_state.service in ("config", "database"):
        return spec_state.service
    return "health" if state == "running_health_checks" else "services"


def check_startup_timeouts(run: RunResult) -> CheckResult:
    policy = run.scenario.policies.startup
    limits = {"config": policy.config_timeout_s, "database": policy.database_timeout_s,
              "services": policy.services_timeout_s, "health": policy.health_check_timeout_s}
    violations: list[str] = []
    worst = 0.0
    components = by_component(run.entries, "orchestrator_startup")
    for component, events in components.items():
        spent: dict[str, float] = defaultdict(float)
        for before, after in zip(events, events[1:], strict=False):
            group = _startup_group(before.dest)
            if group is not None:
                spent[group] += after.time - before.time
        for group, used in spent.items():
            worst = max(worst, used / limits[group])
            if used > limits[group] + EPS:
                violations.append(f"{component}: {group} phase took {used:.3f} s, timeout {limits[group]:g} s")
        total = events[-1].time - events[0].time
        if total > policy.total_timeout_s + EPS:
            violations.append(f"{component}: startup took {total:.3f} s, total timeout {policy.total_timeout_s:g} s")
        last = events[-1]
        if last.trigger == "startup_timed_out":
            group = _startup_group(last.source)
            used = spent.get(group or "", 0.0)
            at_limit = abs(used - limits.get(group or "", -1)) <= EPS or abs(total - policy.total_timeout_s) <= EPS
            if not at_limit:
                violations.append(f"{component}: timed out in {last.source} after {used:.3f} s, before its timeout")
    return result("startup_timeouts", len(components), f"{len(components)} startups; worst phase at "
                   f"{worst:.0%} of its timeout", f"phases within {limits} s, total {policy.total_timeout_s:g} s",
                   violations)


def recovery_bounds(policies: Policies) -> tuple[float, float]:
    """(machine bound, orphan bound): see docs/simulation.md, "Recovery bound"."""
    startup, hb = policies.startup, policies.heartbeat
    machine = startup.database_timeout_s + startup.services_timeout_s
    return machine, machine + hb.timeout_s + hb.sweep_interval_s


def check_recovery_bound(run: RunResult) -> CheckResult:
    machine_bound, orphan_bound = recovery_bounds(run.scenario.policies)
    violations: list[str] = []
    longest = 0.0
    holder: dict[str, str] = {}
    recoveries = 0
    ends: dict[str, list[float]] = defaultdict(list)
    for e in run.entries:
        if e.machine == "task_lifecycle" and e.trigger in _TASK_END:
            ends[e.component].append(e.time)
    for e in run.entries:
        if e.machine == "task_lifecycle":
            if e.trigger == "assign":
                holder[e.component] = str(data_of(e, "worker"))
            elif e.trigger in _TASK_END:
                holder.pop(e.component, None)
        if e.machine != "orchestrator_recovery" or e.trigger != "restart":
            continue
        recoveries += 1
        events = [x for x in run.entries if x.component == e.component]
        done = next((x.time for x in events if x.dest == "recovered"), None)
        superseded = any(e.time <= c <= e.time + machine_bound for c in run.ledger.orchestrator_crashes)
        if done is None:
            if events[-1].dest != "recovery_failed" and run.sim_time_s - e.time > machine_bound and not superseded:
                violations.append(f"{e.component}: restarted at {e.time:.3f}, not recovered by the end")
            continue
        longest = max(longest, done - e.time)
        if done - e.time > machine_bound + EPS:
            violations.append(f"{e.component}: recovery took {done - e.time:.3f} s, bound {machine_bound:g} s")
        for task, worker in holder.items():
            if not run.ledger.worker_was_down(worker, e.time):
                continue
            resolved = next((t for t in ends[task] if t >= e.time), None)
            if resolved is None or resolved - e.time > orphan_bound + EPS:
                violations.append(f"{task}: orphaned on {worker} at restart {e.time:.3f}, re-queued "
                                  f"{'never' if resolved is None else f'after {resolved - e.time:.3f} s'}")
    return result("recovery_bound", recoveries, f"{recoveries} recoveries; longest {longest:.3f} s",
                   f"recovered <= {machine_bound:g} s, orphans re-queued <= {orphan_bound:g} s", violations)
