"""The full resilience stack of one external service, in the seed's order.

Seed 4.5's sequence diagram puts the breaker outside the retry handler (``CB->>Retry:
attemptOperation()``): a call that fails after all its retries counts once against the breaker,
and an open breaker means no retries at all. Rate-limit handling sits innermost, next to the
call, because it waits what the *server* asked rather than the backoff schedule.

Authentication errors pass through unretried (seed: "No automatic retry"); when the service
rejects the credentials repeatedly (`spec.decisions.auth_escalation`) the escalator hears about
it at once, at the taxonomy's level for authentication errors.

Listeners added with :meth:`ExternalService.on_call` see every call once it ended: its
operation (the called function's name), how it ended (an error class, or refused by the open
breaker), how long it took and which retries it made. The worker sends them to the
orchestrator (`runtime.worker.telemetry`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from runtime.resilience.circuit_breaker import BreakerRegistry, CircuitBreaker
from runtime.resilience.classify import classify
from runtime.resilience.clock import Clock, MonotonicClock
from runtime.resilience.errors import CircuitOpenError
from runtime.resilience.escalation import Escalator
from runtime.resilience.rate_limit import RateLimitHandler
from runtime.resilience.retry import AttemptEvent, RetryHandler
from runtime.resilience.tracing import TraceSink
from spec.decisions.auth_escalation import AuthFailureStreak
from spec.policies import DEFAULT_POLICIES, Policies
from spec.taxonomy import ErrorClass, category

T = TypeVar("T")
P = ParamSpec("P")

#: The retries of the call running in this context (set per observed call; a nested call has its own).
_retries_of_call: ContextVar[list[ErrorClass] | None] = ContextVar("retries_of_call", default=None)


@dataclass(frozen=True)
class CallObservation:
    """One call through an :class:`ExternalService`, after its retries."""

    service: str
    operation: str
    #: The error's class when the call failed (``None``: it succeeded).
    error_class: ErrorClass | None
    #: The breaker refused the call: the service was not called at all.
    breaker_open: bool
    duration_s: float
    #: The error class of each retry the retry handler made, in order.
    retry_classes: tuple[ErrorClass, ...]


CallListener = Callable[[CallObservation], None]


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
        self.classifier = classifier
        self.escalator = escalator
        self.auth_failures = AuthFailureStreak()
        self._call_listeners: list[CallListener] = []
        self.retry.on_attempt(self._note_retry)
        self.rate_limit = RateLimitHandler(
            policies.rate_limit,
            service=name,
            clock=self.clock,
            classifier=classifier,
            escalator=escalator,
            trace_sink=trace_sink,
        )

    def on_call(self, listener: CallListener) -> Callable[[], None]:
        """Call `listener` after every call (success or failure); returns a function that unsubscribes it."""
        self._call_listeners.append(listener)
        return lambda: self._call_listeners.remove(listener)

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)`` through the breaker, the retry handler and the rate limiter."""
        try:
            result = await self._observed_call(fn, *args, **kwargs)
        except Exception as exc:
            if not isinstance(exc, CircuitOpenError) and self.classifier(exc) is ErrorClass.AUTHENTICATION:
                await self._authentication_failed(getattr(fn, "__name__", "call"), exc)
            raise
        self.auth_failures.succeeded()
        return result

    async def _authentication_failed(self, operation: str, exc: Exception) -> None:
        level = category(ErrorClass.AUTHENTICATION).escalation_level
        if not self.auth_failures.failed() or self.escalator is None or level is None:
            return
        await self.escalator.escalate(
            level, f"service {self.name!r} rejected the credentials {self.auth_failures.count} times in a row "
                   f"({operation}: {type(exc).__name__}); provide valid credentials",
            source=f"auth:{self.name}", details={"service": self.name, "operation": operation,
                                                 "failures": self.auth_failures.count})

    async def _observed_call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        if not self._call_listeners:
            return await self._call(fn, *args, **kwargs)
        operation = getattr(fn, "__name__", "call")
        retries: list[ErrorClass] = []
        context = _retries_of_call.set(retries)
        started = self.clock.now()
        try:
            result = await self._call(fn, *args, **kwargs)
        except Exception as exc:
            self._observed(operation, started, retries, exc)
            raise
        finally:
            _retries_of_call.reset(context)
        self._observed(operation, started, retries, None)
        return result

    def _note_retry(self, event: AttemptEvent) -> None:
        retries = _retries_of_call.get()
        if retries is not None:
            retries.append(event.error_class)

    def _observed(self, operation: str, started: float, retries: list[ErrorClass], error: Exception | None) -> None:
        observation = CallObservation(
            self.name, operation,
            error_class=None if error is None else self.classifier(error),
            breaker_open=isinstance(error, CircuitOpenError) and error.service == self.name,
            duration_s=max(0.0, self.clock.now() - started), retry_classes=tuple(retries),
        )
        for listener in list(self._call_listeners):
            listener(observation)

    async def _call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
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
