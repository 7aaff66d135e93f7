"""The full resilience stack of one external service, in the seed's order.

Seed 4.5's sequence diagram puts the breaker outside the retry handler (``CB->>Retry:
attemptOperation()``): a call that fails after all its retries counts once against the breaker,
and an open breaker means no retries at all. Rate-limit handling sits innermost, next to the
call, because it waits what the *server* asked rather than the backoff schedule.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from runtime.resilience.circuit_breaker import BreakerRegistry, CircuitBreaker
from runtime.resilience.classify import classify
from runtime.resilience.clock import Clock, MonotonicClock
from runtime.resilience.escalation import Escalator
from runtime.resilience.rate_limit import RateLimitHandler
from runtime.resilience.retry import RetryHandler
from runtime.resilience.tracing import TraceSink
from spec.policies import DEFAULT_POLICIES, Policies
from spec.taxonomy import ErrorClass

T = TypeVar("T")
P = ParamSpec("P")


class ExternalService:
    """Breaker → retry → rate limit → call, for one named service (a git platform, an AI provider)."""

    def __init__(
        self,
        name: str,
        *,
        policies: Policies = DEFAULT_POLICIES,
        clock: Clock | None = None,
        breakers: BreakerRegistry | None = None,
        escalator: Escalator | None = None,
        classifier: Callable[[BaseException], ErrorClass] = classify,
        trace_sink: TraceSink | None = None,
    ) -> None:
        self.name = name
        if clock is None:
            clock = breakers.clock if breakers is not None else MonotonicClock()
        self.clock: Clock = clock
        self.breaker: CircuitBreaker = (
            breakers.get(name)
            if breakers is not None
            else CircuitBreaker(name, policies.circuit_breaker, clock=self.clock, trace_sink=trace_sink)
        )
        self.retry = RetryHandler(
            policies.backoff,
            clock=self.clock,
            classifier=classifier,
            escalator=escalator,
            trace_sink=trace_sink,
            name=f"retry:{name}",
        )
        self.rate_limit = RateLimitHandler(
            policies.rate_limit,
            service=name,
            clock=self.clock,
            classifier=classifier,
            escalator=escalator,
            trace_sink=trace_sink,
        )

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` through the breaker, the retry handler and the rate limiter."""

        async def limited() -> T:
            return await self.rate_limit.execute(fn, *args, **kwargs)

        async def retried() -> T:
            return await self.retry.execute(limited)

        return await self.breaker.execute(retried)

    def wrap(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Decorator form of :meth:`call`."""

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self.call(fn, *args, **kwargs)

        return wrapper
