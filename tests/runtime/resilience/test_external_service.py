"""The whole stack in the seed's order: breaker outside, retries inside, rate limits next to the call."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from runtime.resilience import OPEN, BreakerRegistry, CircuitOpenError, ExternalService, FakeClock
from spec.policies import DEFAULT_POLICIES

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
