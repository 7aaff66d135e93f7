"""The system-error branch of seed 4.5 (flowchart G), as a sans-I/O core: critical or not, and then what.

``G1 Is critical system error?`` — the exhausted resource is one of
``SystemErrorPolicy.critical_resources``: **emergency shutdown** (G2), alerting administrators at the
taxonomy's system-error escalation level (G3) and logging it (G4). Otherwise **attempt recovery** (G5):
the driver cleans up and measures the resource again; below ``recovered_below_percent`` the worker
**continues** (G7), else it **degrades** (G8, logging the failure, G9). Recovering again and again is no
recovery: a non-critical error beyond ``max_recoveries`` within ``window_s`` degrades at once.

A degraded process stays out of rotation at least ``degraded_min_s``, then is restored by `recheck`
once every degraded resource measures below the threshold again. A resource the driver cannot measure
(``None``) counts as recovered: only the recovery budget can degrade it.

The runtime's worker drives this with its monotonic clock (`runtime.worker.system_errors`); the flowchart
renderer draws the branch from the same policy (`spec.render.flowchart`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from spec.operations_policies import SystemErrorPolicy
from spec.system_resources import SystemResource
from spec.taxonomy import ErrorClass, category


class SystemErrorAction(StrEnum):
    """What the process does about one system error (the flowchart's outcomes)."""

    EMERGENCY_SHUTDOWN = "emergency_shutdown"
    ATTEMPT_RECOVERY = "attempt_recovery"
    CONTINUE = "continue"
    DEGRADE = "degrade"


@dataclass(frozen=True)
class SystemErrorDecision:
    """One answer: the action, why, and the escalation level to alert at (``None``: no alert here)."""

    resource: SystemResource
    action: SystemErrorAction
    reason: str
    escalation_level: int | None = None


class SystemErrorHandler:
    """The state of one process's system errors: recoveries in the window, degraded resources, shutdown."""

    def __init__(self, policy: SystemErrorPolicy, escalation_level: int | None = None) -> None:
        self.policy = policy
        #: The taxonomy's level for a system error once handling has failed (an emergency shutdown).
        self.escalation_level = (category(ErrorClass.SYSTEM).escalation_level
                                 if escalation_level is None else escalation_level)
        self._recoveries: deque[float] = deque()
        #: Degraded resources and when the latest degradation of each began.
        self.degraded: dict[SystemResource, float] = {}
        self.shutting_down: SystemErrorDecision | None = None

    def is_critical(self, resource: SystemResource) -> bool:
        return resource in self.policy.critical_resources

    def on_error(self, resource: SystemResource, now: float) -> SystemErrorDecision:
        """A task or service of this process hit `resource` exhaustion at `now` (monotonic seconds)."""
        if self.shutting_down is not None:
            return self.shutting_down
        if self.is_critical(resource):
            self.shutting_down = SystemErrorDecision(
                resource, SystemErrorAction.EMERGENCY_SHUTDOWN,
                f"{resource.value} exhausted, a critical resource: emergency shutdown", self.escalation_level)
            return self.shutting_down
        while self._recoveries and self._recoveries[0] <= now - self.policy.window_s:
            self._recoveries.popleft()
        if len(self._recoveries) >= self.policy.max_recoveries:
            return self._degrade(resource, now, f"{resource.value} exhausted again: {len(self._recoveries)} "
                                 f"recoveries within {self.policy.window_s:g} s already")
        self._recoveries.append(now)
        return SystemErrorDecision(resource, SystemErrorAction.ATTEMPT_RECOVERY,
                                   f"{resource.value} exhausted: cleaning up and measuring again")

    def recovery_measured(self, resource: SystemResource, usage_percent: float | None,
                          now: float) -> SystemErrorDecision:
        """The recovery attempt for `resource` is done and the resource measures `usage_percent` now."""
        if self._recovered(usage_percent):
            return SystemErrorDecision(resource, SystemErrorAction.CONTINUE, f"{resource.value} recovered"
                                       + ("" if usage_percent is None else f" ({usage_percent:.1f} % in use)"))
        return self._degrade(resource, now, f"{resource.value} still {usage_percent:.1f} % in use after cleaning "
                             f"up (recovered below {self.policy.recovered_below_percent:g} %)")

    def recheck(self, usage: Mapping[SystemResource, float | None], now: float) -> list[SystemResource]:
        """While degraded: the resources restored at `now`, given their measured use (missing: not measured)."""
        restored = [resource for resource, since in self.degraded.items()
                    if now - since >= self.policy.degraded_min_s and self._recovered(usage.get(resource))]
        for resource in restored:
            del self.degraded[resource]
        return restored

    @property
    def is_degraded(self) -> bool:
        return bool(self.degraded)

    def _recovered(self, usage_percent: float | None) -> bool:
        return usage_percent is None or usage_percent < self.policy.recovered_below_percent

    def _degrade(self, resource: SystemResource, now: float, reason: str) -> SystemErrorDecision:
        self.degraded[resource] = now
        return SystemErrorDecision(resource, SystemErrorAction.DEGRADE, f"{reason}: degraded for at least "
                                   f"{self.policy.degraded_min_s:g} s")


__all__ = ["SystemErrorAction", "SystemErrorDecision", "SystemErrorHandler"]
