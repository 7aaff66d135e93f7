"""Checks of the orchestrator's own lifecycle timings: shutdown, startup and recovery (issue 5, §3).

Split from `sim.checks`, which registers them; each compares the trace with `StartupPolicy`,
`ShutdownPolicy` and `HeartbeatPolicy`.
"""

from __future__ import annotations

import math
from collections import defaultdict

from sim.check_result import EPS, CheckResult, by_component, data_of, result
from sim.model import RunResult
from sim.replicas import replica_component
from sim.scenario import DatabaseOutage, ReplicaCrash
from spec.decisions.leadership import takeover_due
from spec.decisions.startup import TIMED_STATES, StartupBudget, StartupBudgets, budget_of
from spec.machines.leader_election import LEADER_ELECTION, STEP_DOWN_TRIGGERS, LeaderTrigger
from spec.machines.recovery import OrchestratorRecoveryState, OrchestratorRecoveryTrigger
from spec.machines.shutdown import OrchestratorShutdownState
from spec.machines.startup import StartupTrigger
from spec.machines.task_lifecycle import ATTEMPT_ENDING_TRIGGERS, TaskTrigger
from spec.policies import Policies
from spec.trace import TraceKey

#: The orchestrator shutdown machine's ends: stopped gracefully, or forced by a second signal.
_SHUTDOWN_ENDS = (OrchestratorShutdownState.STOPPED, OrchestratorShutdownState.FORCED_STOP)


def check_graceful_shutdown(run: RunResult) -> CheckResult:
    policy = run.scenario.policies.shutdown
    violations: list[str] = []
    durations: list[float] = []
    starts = sorted(e.time for e in run.entries if e.machine in ("orchestrator_startup", "orchestrator_recovery")
                    and e.trigger in (StartupTrigger.START, OrchestratorRecoveryTrigger.RESTART))
    assigns = [e for e in run.entries if e.machine == "task_lifecycle" and e.trigger == TaskTrigger.ASSIGN]
    for component, events in by_component(run.entries, "orchestrator_shutdown").items():
        began = events[0].time
        ended = next((e.time for e in events if e.dest in _SHUTDOWN_ENDS), None)
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


def check_startup_timeouts(run: RunResult) -> CheckResult:
    """Replays each startup through the spec's `StartupBudgets`: every timed state is left by its
    deadline, and ``startup_timed_out`` fires exactly at it."""
    policy = run.scenario.policies.startup
    violations: list[str] = []
    worst = 0.0
    components = by_component(run.entries, "orchestrator_startup")
    for component, events in components.items():
        budgets = StartupBudgets(policy, began=events[0].time)
        entered_at, deadline = 0.0, math.inf
        for e in events:
            if e.source in TIMED_STATES and e.dest != e.source:
                used, allowed = e.time - entered_at, deadline - entered_at
                worst = max(worst, used / allowed if allowed > 0 else 1.0)
                if e.trigger == StartupTrigger.STARTUP_TIMED_OUT:
                    if abs(e.time - deadline) > EPS:
                        violations.append(f"{component}: timed out in {e.source} after {used:.3f} s, its "
                                          f"{budget_of(e.source)} budget allowed {allowed:.3f} s")
                elif e.time > deadline + EPS:
                    violations.append(f"{component}: {e.source} took {used:.3f} s, its "
                                      f"{budget_of(e.source)} budget allowed {allowed:.3f} s")
                budgets.leave(e.source, e.time)
            if e.dest in TIMED_STATES and e.dest != e.source:
                entered_at, deadline = e.time, budgets.enter(e.dest, e.time)
        total = events[-1].time - events[0].time
        if total > policy.total_timeout_s + EPS:
            violations.append(f"{component}: startup took {total:.3f} s, total timeout {policy.total_timeout_s:g} s")
    limits = {budget.value: float(getattr(policy, budget)) for budget in StartupBudget}
    return result("startup_timeouts", len(components), f"{len(components)} startups; worst phase at "
                   f"{worst:.0%} of its timeout", f"phases within {limits} s (services shared), total "
                   f"{policy.total_timeout_s:g} s", violations)


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
        if e.machine == "task_lifecycle" and e.trigger in ATTEMPT_ENDING_TRIGGERS:
            ends[e.component].append(e.time)
    for e in run.entries:
        if e.machine == "task_lifecycle":
            if e.trigger == TaskTrigger.ASSIGN:
                holder[e.component] = str(data_of(e, TraceKey.WORKER_ID))
            elif e.trigger in ATTEMPT_ENDING_TRIGGERS:
                holder.pop(e.component, None)
        if e.machine != "orchestrator_recovery" or e.trigger != OrchestratorRecoveryTrigger.RESTART:
            continue
        recoveries += 1
        events = [x for x in run.entries if x.component == e.component]
        done = next((x.time for x in events if x.dest == OrchestratorRecoveryState.RECOVERED), None)
        superseded = any(e.time <= c <= e.time + machine_bound for c in run.ledger.orchestrator_crashes)
        if done is None:
            gave_up = events[-1].dest == OrchestratorRecoveryState.RECOVERY_FAILED
            if not gave_up and run.sim_time_s - e.time > machine_bound and not superseded:
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


def _another_up(run: RunResult, crashed: int, at: float) -> bool:
    """Whether a replica other than `crashed` was running at `at` (so one could take over)."""
    down: dict[int, tuple[float, float]] = {}
    for f in run.scenario.faults:
        if isinstance(f, ReplicaCrash) and f.replica != crashed and f.at <= at:
            down[f.replica] = (f.at, math.inf if f.restart_after is None else f.at + f.restart_after)
    return any(not (start <= at < end) for start, end in down.values()) or \
        len(down) < run.scenario.topology.replicas - 1


def check_failover(run: RunResult) -> CheckResult:
    """Replicas: one leader at a time, and when the leader crashes another replica leads within
    ``LeadershipPolicy.failover_bound_s`` (when one is up to take over; counted from the database's
    return when it is down, `takeover_due`)."""
    policy = run.scenario.policies.leadership
    bound = policy.failover_bound_s
    violations: list[str] = []
    crashes = sorted((f.at, f.replica) for f in run.scenario.faults if isinstance(f, ReplicaCrash))
    outages = [(f.at, f.end) for f in run.scenario.faults if isinstance(f, DatabaseOutage)]
    elections = [e for e in run.entries if e.machine == LEADER_ELECTION.name]
    leading: dict[str, float] = {}  # component -> when it took the lock
    took_over: list[float] = []
    pending = list(crashes)
    for e in elections:
        while pending and pending[0][0] <= e.time:  # a crashed replica's session ended with it
            at, index = pending.pop(0)
            prefix = replica_component(index) + "#"
            for component in [c for c in leading if c.startswith(prefix)]:
                del leading[component]
                after = next((x.time for x in elections if x.time >= at and x.trigger == LeaderTrigger.LOCK_ACQUIRED
                              and not x.component.startswith(prefix)), None)
                due = takeover_due(policy, at, outages)
                if after is None:
                    if _another_up(run, index, at) and run.sim_time_s > due:
                        violations.append(f"{component}: crashed at {at:.3f} while leading; nobody took over")
                else:
                    took_over.append(after - at)
                    if after > due + EPS:
                        violations.append(f"{component}: crashed at {at:.3f} while leading; another replica led "
                                          f"after {after - at:.3f} s, due by {due:.3f} (bound {bound:g} s from the "
                                          "crash, or from the database's return)")
        if e.trigger == LeaderTrigger.LOCK_ACQUIRED:
            others = [c for c in leading if c != e.component]
            if others:
                violations.append(f"{e.component}: took the lock at {e.time:.3f} while {others[0]} led")
            leading[e.component] = e.time
        elif e.trigger in STEP_DOWN_TRIGGERS or e.trigger == LeaderTrigger.RESIGN:
            leading.pop(e.component, None)
    measured = (f"{len(took_over)} takeovers after a leader crash; longest {max(took_over):.3f} s" if took_over
                else f"{len(elections)} election events, no takeover after a leader crash")
    return result("failover", len(took_over), measured,
                  f"one leader at a time; takeover <= failover_bound_s = {bound:g} s", violations)
