"""The breaker executes the spec machine with the policy's thresholds (seed 4.5 and its test)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.resilience import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    BreakerRegistry,
    CircuitBreaker,
    CircuitOpenError,
    FakeClock,
    StateChange,
)
from spec.machines import MACHINES
from spec.policies import DEFAULT_POLICIES, CircuitBreakerPolicy
from spec.trace import TraceEvent

POLICY = DEFAULT_POLICIES.circuit_breaker


async def _fail() -> None:
    raise RuntimeError("Service unavailable")


async def _succeed() -> str:
    return "success"


def test_state_names_come_from_the_spec_machine() -> None:
    assert {CLOSED, OPEN, HALF_OPEN} == set(MACHINES["circuit_breaker"].state_names)


def test_seed_test_opens_after_threshold_then_fails_fast() -> None:
    async def scenario() -> None:
        breaker = CircuitBreaker("svc", CircuitBreakerPolicy(failure_threshold=3), clock=FakeClock())
        for _ in range(3):
            with pytest.raises(RuntimeError):
                await breaker.execute(_fail)
        assert breaker.get_state() == OPEN
        called = False

        async def must_not_run() -> str:
            nonlocal called
            called = True
            return "success"

        with pytest.raises(CircuitOpenError, match="Circuit breaker is open") as info:
            await breaker.execute(must_not_run)
        assert not called
        assert info.value.retry_in_s == POLICY.open_duration_s
        assert f"{POLICY.open_duration_s:.1f} s" in str(info.value)

    asyncio.run(scenario())


def test_full_cycle_with_default_policy() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        changes: list[StateChange] = []
        events: list[TraceEvent] = []
        breaker = CircuitBreaker("git", clock=clock, trace_sink=events.append)
        breaker.on_state_change(changes.append)
        for _ in range(POLICY.failure_threshold - 1):
            with pytest.raises(RuntimeError):
                await breaker.execute(_fail)
        assert breaker.state == CLOSED
        with pytest.raises(RuntimeError):
            await breaker.execute(_fail)
        assert breaker.state == OPEN

        # Still open one moment before the open duration ends, with an accurate countdown.
        await clock.sleep(POLICY.open_duration_s - 1)
        with pytest.raises(CircuitOpenError) as info:
            await breaker.execute(_succeed)
        assert info.value.retry_in_s == pytest.approx(1.0)

        # After the open duration the next call is the trial; a failed trial opens it again.
        await clock.sleep(1)
        with pytest.raises(RuntimeError):
            await breaker.execute(_fail)
        assert breaker.state == OPEN
        assert breaker.retry_in_s() == POLICY.open_duration_s

        # A successful trial closes it.
        await clock.sleep(POLICY.open_duration_s)
        assert await breaker.execute(_succeed) == "success"
        assert breaker.state == CLOSED
        assert breaker.failures_in_window() == 0

        assert [(c.source, c.dest, c.trigger) for c in changes] == [
            (CLOSED, OPEN, "trip"),
            (OPEN, HALF_OPEN, "probe"),
            (HALF_OPEN, OPEN, "trial_failed"),
            (OPEN, HALF_OPEN, "probe"),
            (HALF_OPEN, CLOSED, "trial_succeeded"),
        ]
        run = MACHINES["circuit_breaker"].bind()
        for e in events:
            assert run.fire(e.trigger).dest == e.dest
        assert events[0].component == "circuit_breaker:git"

    asyncio.run(scenario())


def test_failures_outside_the_sliding_window_do_not_count() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        breaker = CircuitBreaker("svc", clock=clock)
        for _ in range(POLICY.failure_threshold - 1):
            with pytest.raises(RuntimeError):
                await breaker.execute(_fail)
        await clock.sleep(POLICY.window_s)
        with pytest.raises(RuntimeError):
            await breaker.execute(_fail)
        assert breaker.state == CLOSED
        assert breaker.failures_in_window() == 1

    asyncio.run(scenario())


def test_half_open_admits_exactly_one_trial() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        breaker = CircuitBreaker("svc", clock=clock)
        breaker.force_open()
        await clock.sleep(POLICY.open_duration_s)
        release = asyncio.Event()
        trial_calls = 0

        async def slow_trial() -> str:
            nonlocal trial_calls
            trial_calls += 1
            await release.wait()
            return "ok"

        trial = asyncio.create_task(breaker.execute(slow_trial))
        for _ in range(5):
            await asyncio.sleep(0)
        assert breaker.state == HALF_OPEN
        for _ in range(3):
            with pytest.raises(CircuitOpenError, match="Circuit breaker is open") as info:
                await breaker.execute(slow_trial)
            assert info.value.trial_in_flight
        release.set()
        assert await asyncio.wait_for(trial, timeout=30) == "ok"
        assert trial_calls == 1
        assert breaker.state == CLOSED

    asyncio.run(scenario())


def test_a_cancelled_trial_reopens_and_stale_outcomes_are_ignored() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        breaker = CircuitBreaker("svc", CircuitBreakerPolicy(failure_threshold=1), clock=clock)
        hang = asyncio.Event()

        async def hangs() -> None:
            await hang.wait()

        # A call admitted while closed finishes after the breaker tripped: its outcome is stale.
        slow = asyncio.create_task(breaker.execute(hangs))
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError):
            await breaker.execute(_fail)
        assert breaker.state == OPEN
        hang.set()
        await slow
        assert breaker.state == OPEN

        await clock.sleep(POLICY.open_duration_s)
        hang.clear()
        trial = asyncio.create_task(breaker.execute(hangs))
        await asyncio.sleep(0)
        assert breaker.state == HALF_OPEN
        trial.cancel()
        with pytest.raises(asyncio.CancelledError):
            await trial
        assert breaker.state == OPEN

    asyncio.run(scenario())


def test_guard_context_manager_and_decorator() -> None:
    async def scenario() -> None:
        breaker = CircuitBreaker("svc", CircuitBreakerPolicy(failure_threshold=1), clock=FakeClock())

        @breaker.protect
        async def ping() -> str:
            return "pong"

        assert await ping() == "pong"
        with pytest.raises(ConnectionError):  # a network error counts against the breaker
            async with breaker.guard():
                raise ConnectionError("boom")
        assert breaker.state == OPEN
        with pytest.raises(CircuitOpenError):
            async with breaker.guard():
                pytest.fail("the block must not run while open")

    asyncio.run(scenario())


def test_is_failure_predicate_lets_client_errors_pass() -> None:
    async def scenario() -> None:
        breaker = CircuitBreaker(
            "svc",
            CircuitBreakerPolicy(failure_threshold=1),
            clock=FakeClock(),
            is_failure=lambda exc: not isinstance(exc, ValueError),
        )

        async def bad_input() -> None:
            raise ValueError("bad")

        with pytest.raises(ValueError):
            await breaker.execute(bad_input)
        assert breaker.state == CLOSED

    asyncio.run(scenario())


def test_registry_keeps_one_breaker_per_service() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        registry = BreakerRegistry(CircuitBreakerPolicy(failure_threshold=1), clock=clock)
        changes: list[StateChange] = []
        registry.on_state_change(changes.append)
        git = registry.get("git")
        assert registry["git"] is git and "git" in registry and "ai" not in registry
        with pytest.raises(RuntimeError):
            await registry.get("ai").execute(_fail)
        assert registry.states() == {"ai": OPEN, "git": CLOSED}
        assert [b.service for b in registry] == ["ai", "git"] and len(registry) == 2
        assert [(c.service, c.dest) for c in changes] == [("ai", OPEN)]
        git.force_open()
        assert registry.states()["git"] == OPEN
        with pytest.raises(ValueError, match="must not be empty"):
            registry.get("")

    asyncio.run(scenario())


# -- property test against a reference model ---------------------------------------------------


@dataclass
class ReferenceBreaker:
    """The policy's words, written as plainly as possible."""

    policy: CircuitBreakerPolicy
    state: str = CLOSED
    failures: list[float] = field(default_factory=list)
    opened_at: float = 0.0

    def call(self, now: float, ok: bool) -> str:
        """Returns 'rejected', 'ok' or 'failed'."""
        if self.state == OPEN:
            if now - self.opened_at < self.policy.open_duration_s:
                return "rejected"
            if ok:
                self.state, self.failures = CLOSED, []
            else:
                self.opened_at = now
            return "ok" if ok else "failed"
        if ok:
            return "ok"
        self.failures = [t for t in self.failures if t > now - self.policy.window_s] + [now]
        if len(self.failures) >= self.policy.failure_threshold:
            self.state, self.opened_at, self.failures = OPEN, now, []
        return "failed"


@settings(max_examples=80, deadline=None)
@given(
    threshold=st.integers(min_value=1, max_value=6),
    window=st.sampled_from([5.0, 10.0, 30.0]),
    open_for=st.sampled_from([3.0, 20.0, 50.0]),
    steps=st.lists(st.tuples(st.booleans(), st.sampled_from([0.0, 0.5, 1.0, 2.0, 7.0, 25.0])), max_size=60),
)
def test_breaker_matches_reference_model(
    threshold: int, window: float, open_for: float, steps: list[tuple[bool, float]]
) -> None:
    policy = CircuitBreakerPolicy(failure_threshold=threshold, window_s=window, open_duration_s=open_for)

    async def scenario() -> None:
        clock = FakeClock()
        breaker = CircuitBreaker("svc", policy, clock=clock)
        model = ReferenceBreaker(policy)
        for ok, gap in steps:
            await clock.sleep(gap)
            expected = model.call(clock.now(), ok)
            try:
                await breaker.execute(_succeed if ok else _fail)
                got = "ok"
            except CircuitOpenError:
                got = "rejected"
            except RuntimeError:
                got = "failed"
            assert got == expected
            assert breaker.state == model.state

    asyncio.run(scenario())
