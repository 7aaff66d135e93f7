"""Timing rules of the trace checker: which recorded times a catalogue's policies allow (issue 17).

A *timing rule* watches the events of some machines and says when their recorded times break a
policy bound. It is a plain object made fresh for each checked trace by its factory, from the
policies and the scheduling tolerance, so a catalogue of any system can bring its own rules:
``Spec(timing_rules=(MyDeadlineRule, *PLATFORM_TIMING_RULES))``. `spec.conformance` feeds each
event to every rule that names the event's machine and reports the first :class:`Violation`.

The platform's rules are not written here either: they feed the replays of
`spec.decisions.replay` and `spec.decisions.liveness`, which hold the decision cores' own rules.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from spec.decisions.leadership import FailoverReplay
from spec.decisions.liveness import HEARTBEAT_GRACE, LivenessRules
from spec.decisions.replay import BreakerReplay, RateLimitReplay, RetryReplay, Violation
from spec.decisions.shutdown import ORCHESTRATOR_DRAIN, DrainReplay
from spec.machines.circuit_breaker import CIRCUIT_BREAKER_MACHINE
from spec.machines.leader_election import LEADER_ELECTION
from spec.machines.rate_limit import RATE_LIMIT
from spec.machines.recovery import ORCHESTRATOR_RECOVERY
from spec.machines.retry import RETRY_CALL
from spec.machines.startup import STARTUP
from spec.machines.worker_lifecycle import LIVENESS_TRIGGERS, WORKER_LIFECYCLE, WorkerTrigger
from spec.policies import Policies
from spec.trace import TraceEvent, TraceKey


class TimingRule(Protocol):
    """One rule over the events of `machines`; ``observe`` answers None while the times conform."""

    machines: frozenset[str]

    def observe(self, event: TraceEvent) -> Violation | None: ...


#: Makes a rule for one trace: ``factory(policies, tolerance_s)``.
TimingRuleFactory = Callable[[Policies, float], TimingRule]


class RetryTiming:
    """Retry delays follow ``BackoffPolicy``; a handler gives up exactly after ``max_retries``."""

    machines = frozenset({RETRY_CALL.name})

    def __init__(self, policies: Policies, tolerance_s: float) -> None:
        self._policies, self._tolerance_s = policies, tolerance_s
        self._replays: dict[str, RetryReplay] = {}

    def observe(self, event: TraceEvent) -> Violation | None:
        replay = self._replays.setdefault(event.component, RetryReplay(self._policies.backoff, self._tolerance_s))
        return replay.observe(event.trigger, event.time)


class BreakerTiming:
    """The breaker trips on the ``failure_threshold``-th failure within ``window_s`` and probes no
    earlier than ``open_duration_s`` after opening."""

    machines = frozenset({CIRCUIT_BREAKER_MACHINE.name})

    def __init__(self, policies: Policies, tolerance_s: float) -> None:
        self._policies, self._tolerance_s = policies, tolerance_s
        self._replays: dict[str, BreakerReplay] = {}

    def observe(self, event: TraceEvent) -> Violation | None:
        replay = self._replays.setdefault(
            event.component, BreakerReplay(self._policies.circuit_breaker, self._tolerance_s))
        return replay.observe(event.trigger, event.time)


class RateLimitTiming:
    """A rate-limited call waits its Retry-After (or the policy's default) before trying again."""

    machines = frozenset({RATE_LIMIT.name})

    def __init__(self, policies: Policies, tolerance_s: float) -> None:
        self._policies, self._tolerance_s = policies, tolerance_s
        self._replays: dict[str, RateLimitReplay] = {}

    def observe(self, event: TraceEvent) -> Violation | None:
        replay = self._replays.setdefault(
            event.component, RateLimitReplay(self._policies.rate_limit, self._tolerance_s))
        return replay.observe(event.trigger, event.time, event.data.get(TraceKey.RETRY_AFTER_S))


class LivenessTiming:
    """A silent worker is declared lost within the heartbeat policy's detection window of its last
    sign of life; an orchestrator (re)start grants every known worker a fresh start
    (`HEARTBEAT_GRACE`)."""

    machines = frozenset({WORKER_LIFECYCLE.name, STARTUP.name, ORCHESTRATOR_RECOVERY.name, LEADER_ELECTION.name})

    def __init__(self, policies: Policies, tolerance_s: float) -> None:
        self._policies, self._tolerance_s = policies, tolerance_s
        self._rules = LivenessRules(policies.heartbeat, policies.lease)
        self._last_heartbeat: dict[str, float] = {}

    def observe(self, event: TraceEvent) -> Violation | None:
        if (event.machine, event.trigger) in HEARTBEAT_GRACE:
            for component, last in self._last_heartbeat.items():
                self._last_heartbeat[component] = max(last, event.time)
            return None
        if event.machine != WORKER_LIFECYCLE.name:
            return None
        if event.trigger in LIVENESS_TRIGGERS:
            self._last_heartbeat[event.component] = event.time
        elif event.trigger == WorkerTrigger.HEARTBEATS_MISSED and event.component in self._last_heartbeat:
            silent = event.time - self._last_heartbeat[event.component]
            if not self._rules.detected_in_time(silent, self._tolerance_s):
                low, high = self._policies.heartbeat.detection_window_s()
                return Violation(f"detection within [{low:g}, {high:g}] s", f"{silent:g} s",
                                 "missed heartbeats detected outside the window")
        return None


class FailoverTiming:
    """A leader renews within ``lease_s`` and steps down no earlier; when its session ends, a standby
    replica leads within ``LeadershipPolicy.failover_bound_s``."""

    machines = frozenset({LEADER_ELECTION.name})

    def __init__(self, policies: Policies, tolerance_s: float) -> None:
        self._replay = FailoverReplay(policies.leadership, tolerance_s)

    def observe(self, event: TraceEvent) -> Violation | None:
        return self._replay.observe(event.component, event.trigger, event.time)


class DrainTiming:
    """The orchestrator's graceful shutdown cancels no running task before ``drain_deadline_s``,
    declares the deadline when it comes, and is over by the end of ``cancel_grace_s``.

    A worker's shutdown runs on the worker's own policies, which an orchestrator's trace does not
    carry, so only the orchestrator's wait is checked here (the worker's is the same core)."""

    machines = frozenset({ORCHESTRATOR_DRAIN.machine})

    def __init__(self, policies: Policies, tolerance_s: float) -> None:
        self._policies, self._tolerance_s = policies, tolerance_s
        self._replays: dict[str, DrainReplay] = {}

    def observe(self, event: TraceEvent) -> Violation | None:
        replay = self._replays.setdefault(event.component,
                                          DrainReplay(ORCHESTRATOR_DRAIN, self._policies.shutdown, self._tolerance_s))
        found = replay.observe(event.trigger, event.time)
        return Violation(*found) if found is not None else None


#: The reference platform's timing rules, in the order the checker consults them.
PLATFORM_TIMING_RULES: tuple[TimingRuleFactory, ...] = (RetryTiming, BreakerTiming, RateLimitTiming, LivenessTiming,
                                                         FailoverTiming, DrainTiming)
