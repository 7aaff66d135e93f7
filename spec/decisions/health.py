"""Health checks that keep looking after startup (seed 4.1 ``startMonitoring()``, issue 14).

Sans-I/O: :class:`HealthWatch` is told the outcome of each round of checks (a reason for every
check that failed, ``None`` for one that passed) and answers whether the process is degraded and
why. From `HealthPolicy`: a check that failed ``failures_to_degrade`` rounds in a row degrades the
process, and one passing round restores that check. The startup round degrades at once, as the
startup machine's ``service_degraded`` does: the seed's "continue startup, mark service as
degraded". The runtime only runs the checks every ``interval_s`` and reports the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from spec.policies import HealthPolicy


@dataclass(frozen=True)
class HealthVerdict:
    """Where the checks stand after a round."""

    at: float
    #: Every check that degrades the process now, with its last reason.
    failing: Mapping[str, str] = field(default_factory=dict)
    #: Checks that started degrading the process in this round, and checks restored in it.
    degraded_now: tuple[str, ...] = ()
    restored_now: tuple[str, ...] = ()

    @property
    def degraded(self) -> bool:
        return bool(self.failing)

    def reason(self) -> str:
        return "; ".join(f"{name}: {why}" for name, why in sorted(self.failing.items()))


class HealthWatch:
    """Consecutive failed rounds per check, and the verdict they lead to."""

    def __init__(self, policy: HealthPolicy) -> None:
        self.policy = policy
        self._streaks: dict[str, int] = {}
        self._failing: dict[str, str] = {}
        self.verdict = HealthVerdict(at=0.0)

    def observe(self, results: Mapping[str, str | None], now: float, *, startup: bool = False) -> HealthVerdict:
        """One round: `results` maps each check to the reason it failed, or ``None`` if it passed.

        A check missing from `results` (a service no longer configured) is forgotten.
        """
        degraded_now, restored_now = [], []
        for name in list(self._streaks):
            if name not in results:
                del self._streaks[name]
                if self._failing.pop(name, None) is not None:
                    restored_now.append(name)
        for name, reason in sorted(results.items()):
            if reason is None:
                self._streaks[name] = 0
                if self._failing.pop(name, None) is not None:
                    restored_now.append(name)
                continue
            self._streaks[name] = self._streaks.get(name, 0) + 1
            if startup or self._streaks[name] >= self.policy.failures_to_degrade:
                if name not in self._failing:
                    degraded_now.append(name)
                self._failing[name] = reason
        self.verdict = HealthVerdict(now, dict(self._failing), tuple(degraded_now), tuple(sorted(restored_now)))
        return self.verdict

    def next_round_at(self, now: float) -> float:
        return now + self.policy.interval_s
