"""Restart budgets of supervised background services (seed "Self-Healing Mechanisms", issue 14).

Sans-I/O: :class:`RestartBudget` is told when a service crashed (``now`` in seconds) and answers
whether to restart it and after how long, from `SupervisionPolicy`: at most ``max_restarts``
restarts within any ``window_s``; the next crash exhausts the budget, which escalates (the
taxonomy's ``system`` level) and leaves the process degraded. The runtime's supervisor only
runs the service, catches the crash, asks, and waits.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import StrEnum

from spec.policies import SupervisionPolicy
from spec.taxonomy import ErrorClass, category


class ServiceState(StrEnum):
    RUNNING = "running"
    RESTARTING = "restarting"
    EXHAUSTED = "exhausted"
    STOPPED = "stopped"


#: Escalation level of an exhausted restart budget (a service is down for good: a system error).
EXHAUSTED_ESCALATION_LEVEL = category(ErrorClass.SYSTEM).escalation_level


@dataclass(frozen=True)
class RestartDecision:
    restart: bool
    delay_s: float
    #: Restarts within the window, this one included when ``restart``.
    restarts_in_window: int


class RestartBudget:
    """The restarts one service has had within the policy's sliding window."""

    def __init__(self, policy: SupervisionPolicy) -> None:
        self.policy = policy
        self._restarts: deque[float] = deque()
        self.crashes = 0
        self.exhausted = False

    def restarts_in_window(self, now: float) -> int:
        while self._restarts and self._restarts[0] <= now - self.policy.window_s:
            self._restarts.popleft()
        return len(self._restarts)

    def crashed(self, now: float) -> RestartDecision:
        """The service crashed at `now`: restart it after ``delay_s``, or not (budget exhausted)."""
        self.crashes += 1
        used = self.restarts_in_window(now)
        if self.exhausted or used >= self.policy.max_restarts:
            self.exhausted = True
            return RestartDecision(False, 0.0, used)
        self._restarts.append(now)
        return RestartDecision(True, self.policy.restart_delay_s, used + 1)
