"""The retry handler follows BackoffPolicy exactly (seed "Testing Strategy", Error Recovery Workflow)."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.resilience import (
    AttemptEvent,
    CallbackHook,
    CircuitOpenError,
    Escalation,
    Escalator,
    FakeClock,
    RetryHandler,
    escalation_level,
)
from spec.machine import MachineInstance
from spec.machines import MACHINES
from spec.policies import DEFAULT_POLICIES, BackoffPolicy
from spec.taxonomy import ErrorClass
from spec.trace import TraceEvent

REQUEST = httpx.Request("GET", "http://127.0.0.1/x")


class NetworkError(ConnectionError):
    """The seed test's ``NetworkError('Connection refused')``."""


def test_seed_test_delays_are_exactly_1000_2000_4000_ms() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        handler = RetryHandler(clock=clock)
        attempts: list[float] = []
        handler.on_attempt(lambda event: attempts.append(event.delay_ms))
        error = NetworkError("Connection refused")

        async def always_fails() -> None:
            raise error

        with pytest.raises(NetworkError, match="Connection refused"):
            await handler.execute(always_fails)
        expected_ms = [d * 1000 for d in DEFAULT_POLICIES.backoff.schedule()]
        assert attempts == expected_ms == [1000, 2000, 4000]
        assert clock.sleeps == DEFAULT_POLICIES.backoff.schedule()
        assert clock.now() == sum(DEFAULT_POLICIES.backoff.schedule())

    asyncio.run(scenario())


def test_success_after_retries_returns_the_result_and_traces_the_machine() -> None:
    async def scenario() -> None:
        events: list[TraceEvent] = []
        handler = RetryHandler(clock=FakeClock(), trace_sink=events.append)
        calls = 0

        async def flaky(x: int) -> int:
            nonlocal calls
            calls += 1
            if calls < 3:
                raise httpx.ConnectError("refused", request=REQUEST)
            return x * 2

        assert await handler.execute(flaky, 21) == 42
        triggers = [e.trigger for e in events]
        assert triggers == ["attempt", "fail_retryable", "retry", "fail_retryable", "retry", "succeed"]
        # The trace replays on the spec machine.
        run = MACHINES["retry"].bind()
        for e in events:
            assert run.fire(e.trigger).dest == e.dest
        assert run.is_finished

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "error",
    [
        ValueError("bad input"),
        httpx.HTTPStatusError("401", request=REQUEST, response=httpx.Response(401, request=REQUEST)),
        httpx.HTTPStatusError("429", request=REQUEST, response=httpx.Response(429, request=REQUEST)),
        MemoryError(),
        CircuitOpenError("svc", 10.0),
    ],
)
def test_non_retryable_classes_are_raised_at_once(error: BaseException) -> None:
    async def scenario() -> None:
        events: list[TraceEvent] = []
        clock = FakeClock()
        handler = RetryHandler(clock=clock, trace_sink=events.append)
        calls = 0

        async def fails() -> None:
            nonlocal calls
            calls += 1
            raise error

        with pytest.raises(type(error)):
            await handler.execute(fails)
        assert calls == 1
        assert clock.sleeps == []
        assert [e.trigger for e in events] == ["attempt", "fail_permanent"]

    asyncio.run(scenario())


def test_cancellation_during_the_call_or_the_backoff_is_never_retried() -> None:
    async def scenario() -> None:
        clock = FakeClock(auto_advance=False)
        events: list[TraceEvent] = []
        handler = RetryHandler(clock=clock, trace_sink=events.append)
        calls = 0
        started = asyncio.Event()

        async def fails_then_hangs() -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ConnectionRefusedError()
            started.set()
            await asyncio.Event().wait()

        # Cancelled while backing off.
        task = asyncio.create_task(handler.execute(fails_then_hangs))
        for _ in range(10):
            await asyncio.sleep(0)
        assert clock.pending_sleepers == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert calls == 1
        assert events[-1].trigger == "cancel" and events[-1].source == "backing_off"

        # Cancelled while the call is in flight.
        events.clear()
        calls = 1
        task = asyncio.create_task(handler.execute(fails_then_hangs))
        await asyncio.wait_for(started.wait(), timeout=30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert calls == 2
        assert [e.trigger for e in events] == ["attempt", "cancel"]

    asyncio.run(scenario())


def test_concurrent_calls_never_share_a_retry_counter() -> None:
    async def scenario() -> None:
        clock = FakeClock(auto_advance=False)
        handler = RetryHandler(clock=clock)
        seen: list[AttemptEvent] = []
        handler.on_attempt(seen.append)
        counts = {"a": 0, "b": 0}

        def failing(name: str, failures: int):  # type: ignore[no-untyped-def]
            async def call() -> str:
                counts[name] += 1
                if counts[name] <= failures:
                    raise ConnectionResetError()
                return name

            return call

        a = asyncio.create_task(handler.execute(failing("a", 3)))
        b = asyncio.create_task(handler.execute(failing("b", 2)))
        for _ in range(20):
            await clock.advance(1.0)
            if a.done() and b.done():
                break
        assert await a == "a" and await b == "b"
        per_call: dict[int, list[int]] = {}
        for e in seen:
            per_call.setdefault(e.call_id, []).append(e.retry)
        assert sorted(per_call.values(), key=len) == [[1, 2], [1, 2, 3]]
        delays = {cid: [e.delay_s for e in seen if e.call_id == cid] for cid in per_call}
        schedule = DEFAULT_POLICIES.backoff.schedule()
        assert sorted(delays.values(), key=len) == [schedule[:2], schedule]

    asyncio.run(scenario())


def test_giving_up_escalates_at_the_taxonomy_level() -> None:
    async def scenario() -> None:
        got: list[Escalation] = []
        escalator = Escalator(hooks={level: [CallbackHook(got.append)] for level in range(1, 5)})
        handler = RetryHandler(clock=FakeClock(), escalator=escalator, name="git")

        async def down() -> None:
            raise httpx.ConnectError("refused", request=REQUEST)

        with pytest.raises(httpx.ConnectError) as info:
            await handler.execute(down)
        assert "gave up after 3 retries" in " ".join(info.value.__notes__)
        assert [(e.level, e.source) for e in got] == [(escalation_level(ErrorClass.NETWORK), "git")]

    asyncio.run(scenario())


def test_decorator_and_unsubscribe() -> None:
    async def scenario() -> None:
        handler = RetryHandler(BackoffPolicy(max_retries=1), clock=FakeClock())
        seen: list[AttemptEvent] = []
        unsubscribe = handler.on_attempt(seen.append)

        @handler.wrap
        async def fails() -> None:
            raise TimeoutError()

        with pytest.raises(TimeoutError):
            await fails()
        unsubscribe()
        with pytest.raises(TimeoutError):
            await fails()
        assert len(seen) == 1 and seen[0].error_class is ErrorClass.NETWORK

    asyncio.run(scenario())


policies = st.builds(
    BackoffPolicy,
    base_delay_s=st.floats(min_value=0.001, max_value=100),
    factor=st.floats(min_value=1, max_value=10),
    max_delay_s=st.floats(min_value=100, max_value=1000),
    max_retries=st.integers(min_value=0, max_value=12),
    jitter=st.one_of(st.just(0.0), st.floats(min_value=0, max_value=1)),
)


@settings(max_examples=60, deadline=None)
@given(policy=policies, seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_any_policy_waits_its_capped_schedule(policy: BackoffPolicy, seed: int) -> None:
    async def scenario() -> list[float]:
        clock = FakeClock()
        handler = RetryHandler(policy, clock=clock, rng=random.Random(seed))
        delays: list[float] = []
        handler.on_attempt(lambda e: delays.append(e.delay_s))

        async def down() -> None:
            raise ConnectionRefusedError()

        with pytest.raises(ConnectionRefusedError):
            await handler.execute(down)
        assert clock.sleeps == pytest.approx(delays)
        return delays

    delays = asyncio.run(scenario())
    assert len(delays) == policy.max_retries
    assert all(0 <= d <= policy.max_delay_s for d in delays)
    if policy.jitter == 0:
        assert delays == policy.schedule()
        assert delays == sorted(delays)  # monotone
    else:
        for n, d in enumerate(delays, start=1):
            nominal = policy.delay_s(n)
            assert nominal * (1 - policy.jitter) - 1e-9 <= d <= min(nominal * (1 + policy.jitter), policy.max_delay_s)


@settings(max_examples=40, deadline=None)
@given(outcomes=st.lists(st.sampled_from(["ok", "net", "val"]), min_size=1, max_size=8))
def test_machine_run_matches_any_outcome_sequence(outcomes: list[str]) -> None:
    async def scenario() -> tuple[list[TraceEvent], int]:
        events: list[TraceEvent] = []
        handler = RetryHandler(clock=FakeClock(), trace_sink=events.append)
        it = iter(outcomes)
        calls = 0

        async def call() -> None:
            nonlocal calls
            calls += 1
            kind = next(it, "ok")
            if kind == "net":
                raise ConnectionRefusedError()
            if kind == "val":
                raise ValueError()

        try:
            await handler.execute(call)
        except (ConnectionRefusedError, ValueError):
            pass
        return events, calls

    events, calls = asyncio.run(scenario())
    run: MachineInstance = MACHINES["retry"].bind()
    for e in events:
        run.fire(e.trigger)
    assert run.is_finished
    # Reference: stop at the first ok/val, or after max_retries retries of "net".
    padded = outcomes + ["ok"] * 20
    expected_calls = next(
        (i + 1 for i, k in enumerate(padded) if k != "net" or i == DEFAULT_POLICIES.backoff.max_retries), 1
    )
    assert calls == expected_calls
