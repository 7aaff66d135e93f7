"""Replay a recorded trace on the spec machines and report the first divergence.

Used by the conformance tests on the reference runtime's and the simulator's traces, and by
``python -m spec conform TRACE`` for users who run their own runtime and write the trace format
of `spec.trace`. Two kinds of divergence are found:

* **behaviour** — an event whose machine/trigger is unknown, whose source is not the state the
  component is in, whose destination differs from the table's, or whose messages differ from
  the transition's;
* **timing** — a bound from `spec.policies` that the recorded times violate: the retry delays
  follow ``BackoffPolicy``; a retry handler gives up exactly after ``max_retries``; the breaker
  trips exactly on the ``failure_threshold``-th failure within ``window_s`` and probes no
  earlier than ``open_duration_s`` after opening; a rate-limited call waits Retry-After (or the
  default); a silent worker is declared lost within ``[timeout, timeout + interval]`` of its last
  heartbeat.

The timing rules are not written here: they are `spec.timing_rules` objects (the platform's feed
the replays of `spec.decisions.replay`, which hold the decision cores' own rules, and which the
simulator's checks use too); a catalogue of another system passes its own ``timing_rules``.
``tolerance_s`` absorbs scheduling jitter of a real runtime (the simulator
uses 0).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from spec.errors import SpecError
from spec.machine import MachineSpec
from spec.machines import MACHINES
from spec.policies import DEFAULT_POLICIES, Policies
from spec.timing_rules import PLATFORM_TIMING_RULES, TimingRule, TimingRuleFactory
from spec.trace import TraceEvent


@dataclass(frozen=True)
class Divergence:
    """Where a trace first departs from the spec."""

    index: int  # 1-based position of the event in the trace
    component: str
    machine: str
    trigger: str
    expected: str
    actual: str
    reason: str

    def __str__(self) -> str:
        return (
            f"event {self.index} ({self.component}, {self.machine}.{self.trigger}): {self.reason}; "
            f"expected {self.expected}, got {self.actual}"
        )


@dataclass
class ConformanceReport:
    events: int = 0
    components: int = 0
    divergence: Divergence | None = None
    final_states: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.divergence is None

    def format(self) -> str:
        if self.divergence is None:
            return f"conforms: {self.events} events, {self.components} components"
        return f"DIVERGES at {self.divergence}"


class _Diverged(Exception):
    def __init__(self, expected: str, actual: str, reason: str) -> None:
        super().__init__(reason)
        self.expected, self.actual, self.reason = expected, actual, reason


class TraceChecker:
    """Incremental checker: feed events one by one (the conformance tests do) or all at once."""

    def __init__(
        self,
        machines: Mapping[str, MachineSpec] = MACHINES,
        policies: Policies = DEFAULT_POLICIES,
        *,
        tolerance_s: float = 0.0,
        require_initial: bool = True,
        check_messages: bool = True,
        check_timing: bool = True,
        timing_rules: Sequence[TimingRuleFactory] = PLATFORM_TIMING_RULES,
    ) -> None:
        self.machines = machines
        self.policies = policies
        self.tolerance_s = tolerance_s
        self.require_initial = require_initial
        self.check_messages = check_messages
        self.check_timing = check_timing
        self.states: dict[str, str] = {}
        self._machine_of: dict[str, str] = {}
        self._rules: dict[str, list[TimingRule]] = defaultdict(list)
        for factory in timing_rules:
            rule = factory(policies, tolerance_s)
            for name in rule.machines:
                self._rules[name].append(rule)
        self._last_time = 0.0
        self.count = 0

    def feed(self, event: TraceEvent) -> Divergence | None:
        self.count += 1
        try:
            self._check_behaviour(event)
            if self.check_timing:
                self._check_timing(event)
        except _Diverged as d:
            return Divergence(self.count, event.component, event.machine, event.trigger, d.expected, d.actual,
                              d.reason)
        self.states[event.component] = event.dest
        self._last_time = max(self._last_time, event.time)
        return None

    # -- behaviour --------------------------------------------------------------------------

    def _check_behaviour(self, event: TraceEvent) -> None:
        spec = self.machines.get(event.machine)
        if spec is None:
            raise _Diverged(f"one of {sorted(self.machines)}", repr(event.machine), "unknown machine")
        known = self._machine_of.setdefault(event.component, event.machine)
        if known != event.machine:
            raise _Diverged(f"machine {known!r}", repr(event.machine), "component changed machine")
        if event.time + self.tolerance_s < self._last_time:
            raise _Diverged(f"time >= {self._last_time}", str(event.time), "time went backwards")
        current = self.states.get(event.component)
        if current is None:
            current = spec.initial if self.require_initial else event.source
        if event.source != current:
            raise _Diverged(f"source state {current!r}", repr(event.source), "event does not start where the "
                            "component is")
        try:
            row = spec.transition_for(current, event.trigger)
        except SpecError as exc:
            raise _Diverged(f"one of {list(spec.allowed_triggers(current))}", repr(event.trigger), str(exc)) from None
        dest = row.destination_from(current)
        if event.dest != dest:
            raise _Diverged(f"destination {dest!r}", repr(event.dest), "wrong destination state")
        if self.check_messages:
            expected = [(m.sender.id, m.receiver.id, m.label, m.kind.value) for m in row.messages]
            actual = [(m.sender, m.receiver, m.label, m.kind.value) for m in event.messages]
            if expected != actual:
                raise _Diverged(f"{len(expected)} spec messages", f"{len(actual)} recorded messages",
                                "messages differ from the transition's")

    # -- timing -----------------------------------------------------------------------------

    def _check_timing(self, event: TraceEvent) -> None:
        for rule in self._rules.get(event.machine, ()):
            violation = rule.observe(event)
            if violation is not None:
                raise _Diverged(violation.expected, violation.actual, violation.reason)


def check_trace(
    events: Iterable[TraceEvent],
    *,
    machines: Mapping[str, MachineSpec] = MACHINES,
    policies: Policies = DEFAULT_POLICIES,
    tolerance_s: float = 0.0,
    require_initial: bool = True,
    check_messages: bool = True,
    check_timing: bool = True,
    timing_rules: Sequence[TimingRuleFactory] = PLATFORM_TIMING_RULES,
) -> ConformanceReport:
    """Replay `events`; stop at the first divergence."""
    checker = TraceChecker(machines, policies, tolerance_s=tolerance_s, require_initial=require_initial,
                           check_messages=check_messages, check_timing=check_timing, timing_rules=timing_rules)
    report = ConformanceReport()
    for event in events:
        divergence = checker.feed(event)
        report.events = checker.count
        if divergence is not None:
            report.divergence = divergence
            break
    report.components = len(checker.states) + (1 if report.divergence and
                                               report.divergence.component not in checker.states else 0)
    report.final_states = dict(checker.states)
    return report
