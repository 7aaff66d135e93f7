"""The time source of the resilience layer, injectable so tests never really sleep.

The seed's testing strategy asserts exact backoff delays ([1000, 2000, 4000] ms) and a breaker
that reopens after its open duration (300 s). Waiting for real would make those tests slow and
timing-dependent, so every component takes a :class:`Clock`; production uses
:class:`MonotonicClock`, tests use :class:`FakeClock`.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds for durations, wall time for HTTP dates, and a sleep."""

    def now(self) -> float: ...

    def wall_time(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class MonotonicClock:
    """The real clock: ``time.monotonic`` for durations, UTC wall time for Retry-After dates."""

    def now(self) -> float:
        return time.monotonic()

    def wall_time(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


async def sleep_until(clock: Clock, deadline: float) -> None:
    """Sleep until ``clock.now() >= deadline``, never returning early.

    ``asyncio.sleep`` may wake up to one clock resolution before its deadline; a Retry-After
    must never fire early (seed 4.5), so the remainder is slept again.
    """
    exact = getattr(clock, "sleep_until", None)
    if exact is not None:  # a clock that can wait for an exact deadline (FakeClock) does so
        await exact(deadline)
        return
    while True:
        remaining = deadline - clock.now()
        if remaining <= 0:
            return
        await clock.sleep(remaining)


class FakeClock:
    """A clock that only moves when told to, recording every sleep requested of it.

    With ``auto_advance=True`` (the default) a sleep moves time forward to its own deadline at
    once, which makes sequential code run instantly with exact delays. With
    ``auto_advance=False`` sleepers wait until a test calls :meth:`advance`, which wakes them in
    deadline order.
    """

    def __init__(self, start: float = 0.0, *, wall_start: datetime | None = None, auto_advance: bool = True) -> None:
        self._now = start
        self._start = start
        self._wall_start = wall_start if wall_start is not None else datetime(2026, 1, 1, tzinfo=UTC)
        self.auto_advance = auto_advance
        #: Every delay passed to :meth:`sleep`, in call order.
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()

    def now(self) -> float:
        return self._now

    def wall_time(self) -> datetime:
        return self._wall_start + timedelta(seconds=self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        delay = max(0.0, seconds)
        self.sleeps.append(delay)
        await self._wait(self._now + delay, delay)

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until exactly `deadline` (recorded in :attr:`sleeps` as the time it waits)."""
        delay = max(0.0, deadline - self._now)
        self.sleeps.append(delay)
        await self._wait(max(deadline, self._now), delay)

    async def _wait(self, deadline: float, delay: float) -> None:
        if self.auto_advance:
            self._now = max(self._now, deadline)
            self._wake_due()
            await asyncio.sleep(0)
            return
        if delay == 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (deadline, next(self._counter), future))
        await future

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking sleepers whose deadline has come, in order."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go backwards (advance by {seconds})")
        target = self._now + seconds
        while self._sleepers and self._sleepers[0][0] <= target:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, deadline)
            if not future.done():
                future.set_result(None)
            # Let the woken task run (and maybe sleep again) before time moves further.
            for _ in range(5):
                await asyncio.sleep(0)
        self._now = target
        for _ in range(5):
            await asyncio.sleep(0)

    @property
    def pending_sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)
