"""Per-caller rate decisions, sans I/O: a token bucket and the progress-report gate.

Both take an explicit ``now`` (seconds on any monotonic clock) and answer what to do, so the
worker, the orchestrator and the tests run the same rule: the worker coalesces progress
reports with `ProgressGate`, the orchestrator enforces the same gate (with
`ProgressPolicy.enforcement_slack`) and limits WebSocket subscriptions with `TokenBucket`
(`WebSocketPolicy.subscribes_per_s`, ``subscribe_burst``).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from spec.policies import ProgressPolicy


@dataclass(frozen=True)
class Admission:
    """A gate's answer: allowed now, or after `retry_after_s`."""

    allowed: bool
    retry_after_s: float = 0.0


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up; each admitted action spends one."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._at = now

    def take(self, now: float) -> Admission:
        self._tokens = min(float(self.burst), self._tokens + max(0.0, now - self._at) * self.rate)
        self._at = max(self._at, now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return Admission(True)
        return Admission(False, (1.0 - self._tokens) / self.rate)


class ProgressGate:
    """One task's progress reports: one per `ProgressPolicy.interval_s`, milestones one per ``milestone_min_gap_s``.

    `slack` shortens both gaps (the orchestrator's leeway, `ProgressPolicy.enforcement_slack`);
    a worker's own gate has none.
    """

    def __init__(self, policy: ProgressPolicy, slack: float = 0.0) -> None:
        self.interval_s = policy.interval_s * (1.0 - slack)
        self.milestone_gap_s = policy.milestone_min_gap_s * (1.0 - slack)
        self.milestones_first = policy.report_on_milestone
        self.last_sent: float | None = None
        self.last_milestone: float | None = None

    def decide(self, now: float, milestone: bool) -> Admission:
        """May a report go out at `now`? (Not recorded: call :meth:`sent` when it does.)"""
        if milestone and self.milestones_first:
            return self._after(self.last_milestone, self.milestone_gap_s, now)
        return self._after(self.last_sent, self.interval_s, now)

    def sent(self, now: float, milestone: bool) -> None:
        self.last_sent = now
        if milestone:
            self.last_milestone = now

    def admit(self, now: float, milestone: bool) -> Admission:
        """:meth:`decide`, and :meth:`sent` if allowed."""
        answer = self.decide(now, milestone)
        if answer.allowed:
            self.sent(now, milestone)
        return answer

    @staticmethod
    def _after(last: float | None, gap: float, now: float) -> Admission:
        if last is None or now - last >= gap:
            return Admission(True)
        return Admission(False, gap - (now - last))


class ProgressGates:
    """The orchestrator's gates, one per task, at most `capacity` remembered (least recently used go first)."""

    def __init__(self, policy: ProgressPolicy, capacity: int = 65_536) -> None:
        self.policy = policy
        self.capacity = capacity
        self._gates: OrderedDict[str, ProgressGate] = OrderedDict()

    def admit(self, task_id: str, now: float, milestone: bool) -> Admission:
        gate = self._gates.get(task_id)
        if gate is None:
            gate = self._gates[task_id] = ProgressGate(self.policy, self.policy.enforcement_slack)
            if len(self._gates) > self.capacity:
                self._gates.popitem(last=False)
        else:
            self._gates.move_to_end(task_id)
        return gate.admit(now, milestone)
