"""Traces written by the resilience layer replay on the spec, timing checks included."""

from __future__ import annotations

import asyncio
import email.utils
import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from runtime.resilience import (
    CircuitBreaker,
    CircuitOpenError,
    Credentials,
    ExternalService,
    FakeClock,
    InMemoryCredentialStore,
    RateLimitedError,
    RateLimitHandler,
    ReauthenticatingCaller,
    RetryHandler,
)
from spec.conformance import check_trace
from spec.policies import DEFAULT_POLICIES
from spec.trace import TraceEvent, parse_trace_lines, write_event

WALL = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)
REQUEST = httpx.Request("GET", "http://127.0.0.1/x")


def _429(retry_after: str | None) -> httpx.HTTPStatusError:
    headers = {"Retry-After": retry_after} if retry_after else {}
    response = httpx.Response(429, headers=headers, request=REQUEST)
    return httpx.HTTPStatusError("429", request=REQUEST, response=response)


def test_a_mixed_run_conforms_to_the_spec_with_zero_tolerance() -> None:
    async def scenario() -> list[TraceEvent]:
        clock = FakeClock(wall_start=WALL)
        stream = io.StringIO()

        def sink(event: TraceEvent) -> None:
            write_event(stream, event)

        # Retries that exhaust, and retries that succeed.
        retry = RetryHandler(clock=clock, trace_sink=sink)

        async def down() -> None:
            raise ConnectionRefusedError()

        with pytest.raises(ConnectionRefusedError):
            await retry.execute(down)
        calls = 0

        async def flaky() -> str:
            nonlocal calls
            calls += 1
            if calls < 2:
                raise TimeoutError()
            return "ok"

        await retry.execute(flaky)

        # Rate limits in both Retry-After forms and without one.
        limiter = RateLimitHandler(service="ai", clock=clock, trace_sink=sink)
        for form in ("seconds", "date", None):
            date = email.utils.format_datetime(clock.wall_time() + timedelta(seconds=30), usegmt=True)
            header = {"seconds": "12", "date": date, None: None}[form]
            answers: list[Exception] = [_429(header)]

            async def limited(answers: list[Exception] = answers) -> str:
                if answers:
                    raise answers.pop(0)
                return "ok"

            await limiter.execute(limited)
        with pytest.raises(RateLimitedError):
            errors = [_429("5"), _429("5")]

            async def always_limited() -> None:
                raise errors.pop(0)

            await limiter.execute(always_limited)

        # A breaker cycle.
        breaker = CircuitBreaker("git", clock=clock, trace_sink=sink)

        async def fail() -> None:
            raise RuntimeError("Service unavailable")

        async def succeed() -> str:
            return "ok"

        for _ in range(DEFAULT_POLICIES.circuit_breaker.failure_threshold):
            with pytest.raises(RuntimeError):
                await breaker.execute(fail)
        with pytest.raises(CircuitOpenError):
            await breaker.execute(succeed)
        await clock.sleep(DEFAULT_POLICIES.circuit_breaker.open_duration_s)
        await breaker.execute(succeed)

        # Re-authentication.
        async def reauth() -> Credentials:
            return Credentials("new")

        auth = ReauthenticatingCaller(InMemoryCredentialStore(Credentials("old")), reauth, clock=clock,
                                      trace_sink=sink)

        async def needs_new(c: Credentials) -> str:
            if c.token != "new":
                raise httpx.HTTPStatusError("401", request=REQUEST, response=httpx.Response(401, request=REQUEST))
            return "ok"

        await auth.execute(needs_new)

        # The whole stack.
        service = ExternalService("svc", clock=clock, trace_sink=sink)
        with pytest.raises(ConnectionRefusedError):
            await service.call(down)
        return list(parse_trace_lines(stream.getvalue().splitlines()))

    events = asyncio.run(scenario())
    report = check_trace(events)
    assert report.ok, report.format()
    machines = {e.machine for e in events}
    assert machines == {"retry", "rate_limit", "circuit_breaker", "auth_error"}
    assert any(e.data.get("retryAfterS") == 30.0 for e in events)
