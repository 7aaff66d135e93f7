"""Progress reporting "every 5 seconds or on significant milestones" (seed "Task Execution Workflow").

A handler calls :meth:`ProgressReporter.update` as often as it likes; a report goes out when it
marks a milestone or when ``ProgressPolicy.interval_s`` has passed since the last one. While the
handler is silent, :meth:`ProgressReporter.run_periodic` repeats the latest state every interval,
so clients see the task alive and the orchestrator's lease stays fresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from spec.policies import ProgressPolicy


@dataclass(frozen=True)
class ProgressUpdate:
    """One progress report: the seed's "JSON with percentage, current step, details"."""

    percentage: float
    step: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    milestone: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.percentage <= 100:
            raise ValueError(f"percentage must be between 0 and 100, got {self.percentage}")


ProgressSender = Callable[[ProgressUpdate], Awaitable[None]]


class ProgressReporter:
    """Rate-limits one task's progress reports to the policy's interval, milestones excepted."""

    def __init__(
        self,
        send: ProgressSender,
        policy: ProgressPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self._policy = policy
        self._clock = clock
        self._lock = asyncio.Lock()
        self.latest: ProgressUpdate | None = None
        self.last_sent_at: float | None = None
        self.sent = 0

    def is_due(self) -> bool:
        """True when no report went out within the last ``interval_s``."""
        return self.last_sent_at is None or self._clock() - self.last_sent_at >= self._policy.interval_s

    async def update(
        self, percentage: float, step: str = "", details: dict[str, Any] | None = None, *, milestone: bool = False
    ) -> bool:
        """Record the task's progress; send it now if it is a milestone or a report is due. Return if sent."""
        self.latest = ProgressUpdate(float(percentage), step, dict(details or {}), milestone)
        if (milestone and self._policy.report_on_milestone) or self.is_due():
            await self._deliver(self.latest)
            return True
        return False

    async def _deliver(self, update: ProgressUpdate) -> None:
        async with self._lock:
            self.last_sent_at = self._clock()
            self.sent += 1
            await self._send(update)

    async def run_periodic(self) -> None:
        """Repeat the latest progress whenever ``interval_s`` passes without a report; runs until cancelled."""
        while True:
            wait = self._policy.interval_s if self.last_sent_at is None else max(
                0.0, self.last_sent_at + self._policy.interval_s - self._clock()
            )
            await asyncio.sleep(wait)
            if self.is_due():
                await self._deliver(self.latest or ProgressUpdate(0.0, "running"))
