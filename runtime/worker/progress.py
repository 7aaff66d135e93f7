"""Progress reporting "every 5 seconds or on significant milestones" (seed "Task Execution Workflow").

A handler calls :meth:`ProgressReporter.update` as often as it likes; whether a report goes out
is `spec.rate_gates.ProgressGate`'s decision — the same gate the orchestrator enforces: one per
``ProgressPolicy.interval_s``, milestones one per ``milestone_min_gap_s``. A coalesced update is
not lost: :meth:`ProgressReporter.run_periodic` sends the latest state as soon as the gate
allows, and repeats it every interval while the handler is silent, so clients see the task alive
and the orchestrator's lease stays fresh.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from spec.policies import ProgressPolicy
from spec.rate_gates import ProgressGate


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

#: Streamed text in ``details``: the text, and where it starts in the whole stream.
STREAM_TEXT, STREAM_OFFSET = "chunk", "offset"


def carry_stream(unsent: ProgressUpdate, update: ProgressUpdate) -> ProgressUpdate:
    """`update`, carrying along the streamed text of `unsent` (coalesced, never delivered).

    Progress may be coalesced, streamed output may not: a code chunk that did not go out is
    prepended to the next update's chunk (or carried by an update without one), so clients
    that join the ``chunk`` fields in ``offset`` order still get the whole stream.
    """
    text = unsent.details.get(STREAM_TEXT)
    if not isinstance(text, str):
        return update
    details = dict(update.details)
    following = details.get(STREAM_TEXT)
    if isinstance(following, str) and details.get(STREAM_OFFSET) == unsent.details.get(STREAM_OFFSET, 0) + len(text):
        details[STREAM_TEXT] = text + following
        details[STREAM_OFFSET] = unsent.details.get(STREAM_OFFSET, 0)
    elif following is None:
        details[STREAM_TEXT] = text
        details[STREAM_OFFSET] = unsent.details.get(STREAM_OFFSET, 0)
    # Otherwise the stream restarted (offset 0 again: a retried call); the unsent text is superseded.
    return ProgressUpdate(update.percentage, update.step, details, update.milestone or unsent.milestone)


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
        self._gate = ProgressGate(policy)
        self.latest: ProgressUpdate | None = None
        #: The latest update was coalesced and still waits to go out.
        self.pending = False
        self.sent = 0

    @property
    def last_sent_at(self) -> float | None:
        return self._gate.last_sent

    def is_due(self) -> bool:
        """True when no report went out within the last ``interval_s``."""
        return self._gate.decide(self._clock(), False).allowed

    async def update(
        self, percentage: float, step: str = "", details: dict[str, Any] | None = None, *, milestone: bool = False
    ) -> bool:
        """Record the task's progress; send it now if the gate allows. Return if sent."""
        update = ProgressUpdate(float(percentage), step, dict(details or {}), milestone)
        if self.pending and self.latest is not None:
            update = carry_stream(self.latest, update)
        self.latest = update
        if self._gate.decide(self._clock(), milestone).allowed:
            await self._deliver(self.latest)
            return True
        self.pending = True
        return False

    async def _deliver(self, update: ProgressUpdate) -> None:
        async with self._lock:
            self._gate.sent(self._clock(), update.milestone)
            self.pending = False
            self.sent += 1
            await self._send(update)

    def _next_wait(self) -> float:
        now = self._clock()
        if self.pending and self.latest is not None:
            wait = self._gate.decide(now, self.latest.milestone).retry_after_s
        else:
            wait = self._gate.decide(now, False).retry_after_s or self._gate.interval_s
        return max(wait, 0.0)

    async def run_periodic(self) -> None:
        """Send a coalesced update once the gate allows, and repeat the latest every ``interval_s``; until cancelled."""
        while True:
            await asyncio.sleep(self._next_wait())
            latest = self.latest or ProgressUpdate(0.0, "running")
            if self._gate.decide(self._clock(), latest.milestone and self.pending).allowed:
                await self._deliver(latest)
