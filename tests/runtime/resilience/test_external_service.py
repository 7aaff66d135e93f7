"""The whole stack in the seed's order: breaker outside, retries inside, rate limits next to the call."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from runtime.resilience import (
    OPEN,
    BreakerRegistry,
    CallbackHook,
    CallObservation,
    CircuitOpenError,
    Escalation,
    Escalator,
    ExternalService,
    FakeClock,
)
from spec.policies import DEFAULT_POLICIES
from spec.taxonomy import ErrorClass, category

REQUEST = httpx.Request("GET", "http://127.0.0.1/x")


def test_a_call_exhausting_its_retries_counts_once_against_the_breaker() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        registry = BreakerRegistry(clock=clock)
        service = ExternalService("ai", breakers=registry)
        calls = 0

        @service.wrap
        async def down() -> None:
            nonlocal calls
            calls += 1
            raise httpx.ConnectError("refused", request=REQUEST)

        threshold = DEFAULT_POLICIES.circuit_breaker.failure_threshold
        attempts_per_call = DEFAULT_POLICIES.backoff.max_retries + 1
        for n in range(1, threshold + 1):
            with pytest.raises(httpx.ConnectError):
                await down()
            assert registry["ai"].failures_in_window() == (n if n < threshold else 0)
        assert calls == threshold * attempts_per_call
        assert registry.states() == {"ai": OPEN}
        assert clock.sleeps == DEFAULT_POLICIES.backoff.schedule() * threshold
        with pytest.raises(CircuitOpenError, match="Circuit breaker is open"):
            await down()
        assert calls == threshold * attempts_per_call

    asyncio.run(scenario())


def test_rate_limit_then_success_goes_through_all_layers() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        service = ExternalService("git", clock=clock)
        answers = [httpx.Response(429, headers={"Retry-After": "5"}, request=REQUEST), httpx.Response(200)]

        async def call() -> int:
            response = answers.pop(0)
            if response.status_code >= 400:
                raise httpx.HTTPStatusError("429", request=REQUEST, response=response)
            return response.status_code

        assert await service.call(call) == 200
        assert clock.sleeps == [5.0]

    asyncio.run(scenario())


def test_call_listeners_see_outcome_duration_retries_and_fast_fails() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        registry = BreakerRegistry(clock=clock)
        service = ExternalService("ai", breakers=registry)
        seen: list[CallObservation] = []
        unsubscribe = service.on_call(seen.append)

        async def analyze() -> str:
            raise httpx.ConnectError("refused", request=REQUEST)

        async def summary() -> str:
            return "fine"

        assert await service.call(summary) == "fine"
        threshold = DEFAULT_POLICIES.circuit_breaker.failure_threshold
        for _ in range(threshold):
            with pytest.raises(httpx.ConnectError):
                await service.call(analyze)
        with pytest.raises(CircuitOpenError):
            await service.call(analyze)
        first, failed, refused = seen[0], seen[1], seen[-1]
        assert (first.operation, first.error_class, first.breaker_open, first.retry_classes) == (
            "summary", None, False, ())
        schedule = DEFAULT_POLICIES.backoff.schedule()
        assert failed.operation == "analyze" and failed.error_class is ErrorClass.NETWORK and not failed.breaker_open
        assert failed.retry_classes == (ErrorClass.NETWORK,) * len(schedule)
        assert failed.duration_s == pytest.approx(sum(schedule))
        assert refused.breaker_open and refused.retry_classes == () and refused.duration_s == 0.0
        assert len(seen) == threshold + 2
        unsubscribe()
        with pytest.raises(CircuitOpenError):
            await service.call(summary)
        assert len(seen) == threshold + 2

    asyncio.run(scenario())


def test_concurrent_calls_keep_their_own_retry_counts() -> None:
    async def scenario() -> None:
        clock = FakeClock()
        service = ExternalService("git", clock=clock)
        seen: list[CallObservation] = []
        service.on_call(seen.append)
        failures = {"flaky": 2, "steady": 0}

        async def call(name: str) -> str:
            if failures[name] > 0:
                failures[name] -= 1
                raise httpx.ConnectError("refused", request=REQUEST)
            await asyncio.sleep(0)
            return name

        assert await asyncio.gather(service.call(call, "flaky"), service.call(call, "steady")) == ["flaky", "steady"]
        retries = sorted(len(o.retry_classes) for o in seen)
        assert retries == [0, 2]

    asyncio.run(scenario())


def test_repeated_authentication_failures_escalate_once_per_streak() -> None:
    async def scenario() -> None:
        got: list[Escalation] = []
        escalator = Escalator(hooks={level: [CallbackHook(got.append)] for level in (1, 2, 3, 4)}, log=False)
        service = ExternalService("git", clock=FakeClock(), escalator=escalator)
        answers: list[int] = [401, 403, 401, 200, 401, 401]

        async def push() -> int:
            status = answers.pop(0)
            if status >= 400:
                raise httpx.HTTPStatusError(str(status), request=REQUEST, response=httpx.Response(status))
            return status

        for _ in range(3):  # one streak of three rejections: escalated once, at the second
            with pytest.raises(httpx.HTTPStatusError):
                await service.call(push)
        assert [(e.level, e.source, e.details["failures"]) for e in got] == [
            (category(ErrorClass.AUTHENTICATION).escalation_level, "auth:git", 2)]
        assert "rejected the credentials 2 times in a row (push" in got[0].reason
        assert await service.call(push) == 200  # accepted: the streak ends
        for _ in range(2):
            with pytest.raises(httpx.HTTPStatusError):
                await service.call(push)
        assert len(got) == 2
        assert service.breaker.failures_in_window() == 0  # rejected credentials say nothing about the service

    asyncio.run(scenario())
