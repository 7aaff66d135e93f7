from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.worker.progress import ProgressReporter, ProgressUpdate
from spec.policies import DEFAULT_POLICIES, ProgressPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _reporter(policy: ProgressPolicy) -> tuple[ProgressReporter, list[tuple[float, ProgressUpdate]], Clock]:
    clock = Clock()
    sent: list[tuple[float, ProgressUpdate]] = []

    async def send(update: ProgressUpdate) -> None:
        sent.append((clock.now, update))

    return ProgressReporter(send, policy, clock=clock), sent, clock


async def _flush(reporter: ProgressReporter) -> None:
    """Let the periodic sender deliver a coalesced update (the clock is already past the gap)."""
    periodic = asyncio.create_task(reporter.run_periodic())
    for _ in range(100):
        if not reporter.pending:
            break
        await asyncio.sleep(0)
    periodic.cancel()


def test_the_first_update_is_sent_then_updates_within_the_interval_wait() -> None:
    reporter, sent, clock = _reporter(DEFAULT_POLICIES.progress)

    async def scenario() -> None:
        assert await reporter.update(10, "a")
        clock.now = DEFAULT_POLICIES.progress.interval_s / 2
        assert not await reporter.update(20, "b")
        clock.now = DEFAULT_POLICIES.progress.interval_s
        assert await reporter.update(30, "c")

    asyncio.run(scenario())
    assert [u.percentage for _, u in sent] == [10, 30]


def test_a_milestone_is_sent_at_once() -> None:
    reporter, sent, clock = _reporter(DEFAULT_POLICIES.progress)

    async def scenario() -> None:
        await reporter.update(10)
        clock.now = 0.1
        assert await reporter.update(50, "analysis done", {"files": 3}, milestone=True)

    asyncio.run(scenario())
    assert sent[-1][1] == ProgressUpdate(50, "analysis done", {"files": 3}, True)


def test_milestones_wait_like_others_when_the_policy_says_so() -> None:
    reporter, sent, clock = _reporter(ProgressPolicy(report_on_milestone=False))

    async def scenario() -> None:
        await reporter.update(10)
        clock.now = 0.1
        assert not await reporter.update(50, milestone=True)

    asyncio.run(scenario())
    assert len(sent) == 1


@pytest.mark.parametrize("bad", [-1, 100.5])
def test_percentage_outside_0_to_100_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="percentage"):
        ProgressUpdate(bad)


@given(st.lists(st.tuples(st.floats(0, 10, allow_nan=False), st.booleans()), max_size=40))
def test_reports_are_rate_limited_and_milestones_have_their_own_gap(steps: list[tuple[float, bool]]) -> None:
    policy = ProgressPolicy(interval_s=5.0)
    reporter, sent, clock = _reporter(policy)

    async def scenario() -> None:
        for advance, milestone in steps:
            clock.now += advance
            await reporter.update(50, milestone=milestone)

    asyncio.run(scenario())
    expected: list[float] = []
    now, last, last_milestone = 0.0, None, None
    for advance, milestone in steps:
        now += advance
        if milestone:
            due = last_milestone is None or now - last_milestone >= policy.milestone_min_gap_s
        else:
            due = last is None or now - last >= policy.interval_s
        if due:
            expected.append(now)
            last = now
            if milestone:
                last_milestone = now
    assert [t for t, _ in sent] == expected
    assert reporter.sent == len(expected)


def test_the_latest_progress_is_repeated_every_interval_while_the_task_is_silent() -> None:
    policy = ProgressPolicy(interval_s=0.05)
    sent: list[ProgressUpdate] = []

    async def send(update: ProgressUpdate) -> None:
        sent.append(update)

    async def scenario() -> None:
        reporter = ProgressReporter(send, policy)
        ticker = asyncio.create_task(reporter.run_periodic())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while len(sent) < 1:
            assert loop.time() < deadline
            await asyncio.sleep(0.01)
        await reporter.update(40, "half")
        while len(sent) < 4:
            assert loop.time() < deadline
            await asyncio.sleep(0.01)
        ticker.cancel()

    asyncio.run(scenario())
    assert sent[0] == ProgressUpdate(0.0, "running")
    assert all(u.percentage == 40 for u in sent[2:])


def test_ten_thousand_milestones_in_a_second_send_a_dozen_reports_and_lose_the_last() -> None:
    """A handler that marks every step a milestone cannot flood the orchestrator (issue 10, item 5)."""
    policy = DEFAULT_POLICIES.progress
    reporter, sent, clock = _reporter(policy)

    async def scenario() -> None:
        for step in range(10_000):
            clock.now = step / 10_000
            await reporter.update(step / 100, f"step {step}", milestone=True)
        # The last update was coalesced; the periodic sender delivers it once the gate allows.
        clock.now = 1.0 + policy.milestone_min_gap_s
        assert reporter.pending
        await _flush(reporter)

    asyncio.run(scenario())
    assert len(sent) <= 1 + int(1.0 / policy.milestone_min_gap_s) + 1
    assert sent[-1][1].step == "step 9999"
    gaps = [b - a for (a, _), (b, _) in zip(sent, sent[1:], strict=False)]
    assert min(gaps) >= policy.milestone_min_gap_s - 1e-9


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=60),
       st.lists(st.floats(0, 0.3, allow_nan=False), min_size=60, max_size=60),
       st.booleans())
def test_coalesced_updates_never_lose_streamed_text(chunks: list[str], gaps: list[float], then_step: bool) -> None:
    """Code chunks ride on milestones; the gate may merge them, but their concatenation is the stream."""
    policy = DEFAULT_POLICIES.progress
    reporter, sent, clock = _reporter(policy)

    async def scenario() -> None:
        offset = 0
        for chunk, gap in zip(chunks, gaps, strict=False):
            clock.now += gap
            await reporter.update(50, "code", {"step": 2, "chunk": chunk, "offset": offset}, milestone=True)
            offset += len(chunk)
        if then_step:  # the step's own milestone follows at once, without a chunk
            await reporter.update(60, "code generated", {"step": 2, "progress": 100}, milestone=True)
        clock.now += policy.interval_s
        await _flush(reporter)

    asyncio.run(scenario())
    streamed = [(u.details["offset"], u.details["chunk"]) for _, u in sent if "chunk" in u.details]
    assert "".join(text for _, text in streamed) == "".join(chunks)
    assert [offset for offset, _ in streamed] == [sum(len(t) for _, t in streamed[:i]) for i in range(len(streamed))]
    if then_step:
        assert sent[-1][1].details["progress"] == 100
