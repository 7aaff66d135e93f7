"""The fake clock never really sleeps and wakes sleepers in deadline order."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from runtime.resilience import FakeClock, MonotonicClock, sleep_until


def test_auto_advance_jumps_to_each_deadline() -> None:
    async def scenario() -> None:
        clock = FakeClock(wall_start=datetime(2026, 3, 1, tzinfo=UTC))
        await clock.sleep(1.5)
        await sleep_until(clock, 4.0)
        assert clock.now() == 4.0
        assert clock.sleeps == [1.5, 2.5]
        assert clock.wall_time() == datetime(2026, 3, 1, 0, 0, 4, tzinfo=UTC)

    asyncio.run(scenario())


def test_manual_clock_wakes_sleepers_only_when_advanced() -> None:
    async def scenario() -> None:
        clock = FakeClock(auto_advance=False)
        woke: list[tuple[str, float]] = []

        async def sleeper(name: str, delay: float) -> None:
            await clock.sleep(delay)
            woke.append((name, clock.now()))

        tasks = [asyncio.create_task(sleeper("b", 2.0)), asyncio.create_task(sleeper("a", 1.0))]
        await asyncio.sleep(0)
        assert clock.pending_sleepers == 2
        await clock.advance(0.5)
        assert woke == []
        await clock.advance(2.0)
        await asyncio.gather(*tasks)
        assert woke == [("a", 1.0), ("b", 2.0)]
        assert clock.now() == 2.5
        with pytest.raises(ValueError, match="backwards"):
            await clock.advance(-1)

    asyncio.run(scenario())


def test_real_clock_sleep_until_is_never_early() -> None:
    async def scenario() -> None:
        clock = MonotonicClock()
        deadline = clock.now() + 0.05
        await sleep_until(clock, deadline)
        assert clock.now() >= deadline

    asyncio.run(scenario())


def test_sleep_until_hits_inexact_float_deadlines_with_one_sleep() -> None:
    async def scenario() -> None:
        clock = FakeClock(start=0.1)
        await sleep_until(clock, 0.1 + 0.2)
        assert clock.now() == 0.1 + 0.2
        assert len(clock.sleeps) == 1

    asyncio.run(scenario())
