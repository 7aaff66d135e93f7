"""Rate-limit handling (seed 4.5, "Rate Limit Errors"), executing the spec's ``rate_limit`` machine.

The rules -- the wait (Retry-After, never less, or the policy's default), a Retry-After too long
to honour, how long the *service* has been limiting and when that escalates -- live in
:class:`~spec.decisions.rate_limit.RateLimitCore`, one per handler (service). This module reads
Retry-After from HTTP (seconds or an HTTP date), sleeps until the core's deadline, retries
``max_retries`` (at most one) time and fires what the core decided.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

import httpx

from runtime.resilience.classify import classify, escalation_level
from runtime.resilience.clock import Clock, MonotonicClock, sleep_until
from runtime.resilience.errors import RateLimitedError, ResilienceConfigError
from runtime.resilience.escalation import Escalator
from runtime.resilience.tracing import TraceSink, bind_traced, next_call_id
from spec.decisions.rate_limit import RateLimitCore, parse_retry_after
from spec.machines.rate_limit import RateLimitTrigger
from spec.policies import DEFAULT_POLICIES, RateLimitPolicy
from spec.taxonomy import ErrorClass
from spec.trace import TraceKey

T = TypeVar("T")
P = ParamSpec("P")

Classifier = Callable[[BaseException], ErrorClass]


def _headers_of(obj: object) -> Mapping[str, str] | None:
    if isinstance(obj, httpx.Response):
        return obj.headers
    if isinstance(obj, httpx.HTTPStatusError):
        return obj.response.headers
    headers = getattr(obj, "headers", None)
    if isinstance(headers, Mapping):
        return headers
    response = getattr(obj, "response", None)
    inner = getattr(response, "headers", None) if response is not None else None
    return inner if isinstance(inner, Mapping) else None


def retry_after_s(obj: object, now: datetime) -> float | None:
    """The Retry-After carried by a response, an error with a response, or an object attribute.

    Objects may carry it directly as ``retry_after_s`` (seconds), which scripted providers use.
    """
    direct = getattr(obj, "retry_after_s", None)
    if isinstance(direct, int | float) and not isinstance(direct, bool):
        return max(0.0, float(direct))
    headers = _headers_of(obj)
    if headers is None:
        return None
    for key in ("Retry-After", "retry-after"):
        raw = headers.get(key)
        if raw is not None:
            return parse_retry_after(str(raw), now)
    return None


class RateLimitHandler:
    """Waits out 429s for one service and retries once; escalates a persistent limit.

    One handler per service: the "limited since" time is the service's, shared by its calls,
    while each call runs its own ``rate_limit`` machine.
    """

    def __init__(
        self,
        policy: RateLimitPolicy = DEFAULT_POLICIES.rate_limit,
        *,
        service: str = "service",
        clock: Clock | None = None,
        classifier: Classifier = classify,
        escalator: Escalator | None = None,
        trace_sink: TraceSink | None = None,
    ) -> None:
        if policy.max_retries > 1:
            raise ResilienceConfigError(
                f"rate_limit.max_retries={policy.max_retries}: the spec's rate_limit machine allows one retry "
                "after the waiting period (seed 4.5 'Max Retries: 1'); use 0 or 1"
            )
        self.policy = policy
        self.service = service
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.classifier = classifier
        self.escalator = escalator
        self.trace_sink = trace_sink
        self.core = RateLimitCore(policy)

    @property
    def limited_for_s(self) -> float:
        """How long the service has been refusing with 429 without another answer in between."""
        return self.core.limited_for_s(self.clock.now())

    async def execute(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn``; on a rate-limit error wait as told and retry once."""
        run = bind_traced(
            "rate_limit",
            component=f"rate_limit:{self.service}:{next_call_id()}",
            clock=self.clock,
            sink=self.trace_sink,
            data={TraceKey.SERVICE: self.service},
        )
        run.fire(RateLimitTrigger.REQUEST)
        try:
            result = await fn(*args, **kwargs)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.classifier(exc) is not ErrorClass.RATE_LIMIT:
                self.core.answered()
                run.fire(RateLimitTrigger.OTHER_ERROR)
                raise
            first_error: Exception = exc
        else:
            self.core.answered()
            run.fire(RateLimitTrigger.SUCCEED)
            return result

        asked = retry_after_s(first_error, self.clock.wall_time()) if self.policy.honour_retry_after else None
        decision = self.core.limited(self.clock.now(), asked)
        if decision.trigger is RateLimitTrigger.RETRY_AFTER_TOO_LONG:
            run.fire(decision.trigger)
            raise RateLimitedError(
                self.service,
                limited_for_s=self.limited_for_s,
                retry_after_s=asked,
                escalated=False,
                reason=f"Retry-After of {asked:.0f} s exceeds max_retry_after_s "
                f"({self.policy.max_retry_after_s:.0f} s)",
            ) from first_error
        if decision.retry_after_s is not None:
            run.fire(decision.trigger, **{TraceKey.RETRY_AFTER_S: decision.retry_after_s,
                                          TraceKey.WAIT_S: decision.wait_s})
        else:
            run.fire(decision.trigger, **{TraceKey.WAIT_S: decision.wait_s})
        if self.policy.max_retries == 0:
            raise RateLimitedError(
                self.service, limited_for_s=self.limited_for_s, retry_after_s=asked, escalated=False
            ) from first_error
        await sleep_until(self.clock, decision.deadline)
        run.fire(RateLimitTrigger.RETRY)
        try:
            result = await fn(*args, **kwargs)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self.classifier(exc) is not ErrorClass.RATE_LIMIT:
                self.core.answered()
                run.fire(RateLimitTrigger.OTHER_ERROR)
                raise
            again = retry_after_s(exc, self.clock.wall_time())
            verdict = self.core.limited_again(self.clock.now())
            run.fire(verdict)
            if verdict is RateLimitTrigger.LIMIT_PERSISTED:
                await self._escalate()
            raise RateLimitedError(
                self.service, limited_for_s=self.limited_for_s, retry_after_s=again,
                escalated=verdict is RateLimitTrigger.LIMIT_PERSISTED,
            ) from exc
        self.core.answered()
        run.fire(RateLimitTrigger.RETRY_SUCCEEDED)
        return result

    def wrap(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Decorator form of :meth:`execute`."""

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self.execute(fn, *args, **kwargs)

        return wrapper

    async def _escalate(self) -> None:
        level = escalation_level(ErrorClass.RATE_LIMIT)
        if self.escalator is None or level is None:
            return
        details: dict[str, Any] = {"limited_for_s": round(self.limited_for_s, 3), "service": self.service}
        await self.escalator.escalate(
            level,
            f"service {self.service!r} has been rate-limiting for {self.limited_for_s:.0f} s "
            f"(more than {self.policy.escalate_after_s:.0f} s)",
            source=f"rate_limit:{self.service}",
            details=details,
        )
