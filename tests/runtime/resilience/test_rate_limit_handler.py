"""Retry-After in both forms, the default wait, one retry and escalation (seed 4.5 "Rate Limit Errors")."""

from __future__ import annotations

import asyncio
import email.utils
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.resilience import (
    CallbackHook,
    Escalation,
    Escalator,
    FakeClock,
    RateLimitedError,
    RateLimitHandler,
    ResilienceConfigError,
    escalation_level,
    parse_retry_after,
    retry_after_s,
)
from spec.machines import MACHINES
from spec.policies import DEFAULT_POLICIES, RateLimitPolicy
from spec.taxonomy import ErrorClass
from spec.trace import TraceEvent

POLICY = DEFAULT_POLICIES.rate_limit
WALL = datetime(2026, 5, 4, 12, 0, 0, tzinfo=UTC)
REQUEST = httpx.Request("GET", "http://127.0.0.1/api")


def too_many(retry_after: str | None = None) -> httpx.HTTPStatusError:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    response = httpx.Response(429, headers=headers, request=REQUEST)
    return httpx.HTTPStatusError("429 Too Many Requests", request=REQUEST, response=response)


class Server:
    """Answers with the scripted errors in order, then succeeds; records the time of each request."""

    def __init__(self, clock: FakeClock, *errors: Exception) -> None:
        self.clock = clock
        self.errors = list(errors)
        self.times: list[float] = []

    async def request(self) -> str:
        self.times.append(self.clock.now())
        if self.errors:
            raise self.errors.pop(0)
        return "response"


def _replay(events: list[TraceEvent]) -> str:
    run = MACHINES["rate_limit"].bind()
    for e in events:
        assert run.fire(e.trigger).dest == e.dest
    return run.state


def test_retry_after_in_seconds_waits_exactly_that_long() -> None:
    async def scenario() -> None:
        clock = FakeClock(wall_start=WALL)
        events: list[TraceEvent] = []
        handler = RateLimitHandler(service="ai", clock=clock, trace_sink=events.append)
        server = Server(clock, too_many("7"))
        assert await handler.execute(server.request) == "response"
        assert server.times == [0.0, 7.0]
        assert clock.sleeps == [7.0]
        assert _replay(events) == "succeeded"
        assert [e.trigger for e in events] == ["request", "limited_with_retry_after", "retry", "retry_succeeded"]

    asyncio.run(scenario())


def test_retry_after_as_http_date_never_fires_early() -> None:
    async def scenario() -> None:
        clock = FakeClock(wall_start=WALL)
        handler = RateLimitHandler(service="ai", clock=clock)
        when = email.utils.format_datetime(WALL + timedelta(seconds=42), usegmt=True)
        server = Server(clock, too_many(when))
        assert await handler.execute(server.request) == "response"
        assert server.times == [0.0, 42.0]
        assert clock.wall_time() >= WALL + timedelta(seconds=42)

    asyncio.run(scenario())


def test_without_retry_after_the_default_delay_applies() -> None:
    async def scenario() -> None:
        clock = FakeClock(wall_start=WALL)
        events: list[TraceEvent] = []
        handler = RateLimitHandler(service="ai", clock=clock, trace_sink=events.append)
        server = Server(clock, too_many())
        assert await handler.execute(server.request) == "response"
        assert server.times == [0.0, POLICY.default_delay_s]
        assert events[1].trigger == "limited_without_retry_after"

    asyncio.run(scenario())


def test_exactly_one_retry_then_a_rate_limit_error() -> None:
    async def scenario() -> None:
        clock = FakeClock(wall_start=WALL)
        events: list[TraceEvent] = []
        handler = RateLimitHandler(service="ai", clock=clock, trace_sink=events.append)
        server = Server(clock, too_many("3"), too_many("3"), too_many("3"))
        with pytest.raises(RateLimitedError, match="rate-limiting") as info:
            await handler.execute(server.request)
        assert len(server.times) == 1 + POLICY.max_retries
        assert not info.value.escalated
        assert info.value.retry_after_s == 3.0
        assert _replay(events) == "failed"

    asyncio.run(scenario())


def test_a_limit_persisting_past_the_escalation_period_escalates() -> None:
    async def scenario() -> None:
        clock = FakeClock(wall_start=WALL)
        got: list[Escalation] = []
        escalator = Escalator(hooks={level: [CallbackHook(got.append)] for level in range(1, 5)})
        events: list[TraceEvent] = []
        handler = RateLimitHandler(service="ai", clock=clock, escalator=escalator, trace_sink=events.append)
        half = POLICY.escalate_after_s / 2 + 1
        server = Server(clock, *[too_many(f"{half:.0f}") for _ in range(4)])
        with pytest.raises(RateLimitedError) as first:
            await handler.execute(server.request)
        assert not first.value.escalated and got == []
        events.clear()
        with pytest.raises(RateLimitedError, match="persisted") as second:
            await handler.execute(server.request)
        assert second.value.escalated
        assert second.value.limited_for_s > POLICY.escalate_after_s
        assert [e.level for e in got] == [escalation_level(ErrorClass.RATE_LIMIT)]
        assert _replay(events) == "escalated"

        # A success resets the service's "limited since".
        assert await handler.execute(server.request) == "response"
        assert handler.limited_for_s == 0.0

    asyncio.run(scenario())


def test_other_errors_pass_through_and_policy_limits_are_enforced() -> None:
    async def scenario() -> None:
        clock = FakeClock(wall_start=WALL)
        handler = RateLimitHandler(service="ai", clock=clock)
        server = Server(clock, ConnectionRefusedError("down"))
        with pytest.raises(ConnectionRefusedError):
            await handler.execute(server.request)
        assert clock.sleeps == []
        too_long = f"{POLICY.max_retry_after_s + 1:.0f}"
        server = Server(clock, too_many(too_long))
        with pytest.raises(RateLimitedError, match="exceeds max_retry_after_s"):
            await handler.execute(server.request)
        assert clock.sleeps == []

        no_retry = RateLimitHandler(RateLimitPolicy(max_retries=0), service="ai", clock=clock)
        server = Server(clock, too_many("1"))
        with pytest.raises(RateLimitedError):
            await no_retry.execute(server.request)
        assert len(server.times) == 1
        with pytest.raises(ResilienceConfigError, match="allows one retry"):
            RateLimitHandler(RateLimitPolicy(max_retries=2))

    asyncio.run(scenario())


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("120", WALL) == 120.0
    assert parse_retry_after(" 0 ", WALL) == 0.0
    past = email.utils.format_datetime(WALL - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(past, WALL) == 0.0
    assert parse_retry_after("soon", WALL) is None
    assert parse_retry_after("", WALL) is None
    assert parse_retry_after("-5", WALL) is None

    class Scripted(Exception):
        retry_after_s = 9

    assert retry_after_s(Scripted(), WALL) == 9.0
    assert retry_after_s(httpx.Response(429, headers={"retry-after": "4"}), WALL) == 4.0
    assert retry_after_s(RuntimeError(), WALL) is None


@given(seconds=st.integers(min_value=0, max_value=10**6))
def test_http_date_and_seconds_forms_agree(seconds: int) -> None:
    date = email.utils.format_datetime(WALL + timedelta(seconds=seconds), usegmt=True)
    assert parse_retry_after(date, WALL) == parse_retry_after(str(seconds), WALL) == float(seconds)
