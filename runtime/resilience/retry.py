"""The retry handler (seed 4.5, "Retry Handler" and the flowchart's network branch).

Each call runs its own instance of the spec's ``retry`` machine and its own
:class:`~spec.decisions.backoff.RetryCore`, so concurrent calls never share a counter. A failure
is classified; the core decides -- retry only classes whose taxonomy row ``retries_with_backoff``
(network, unknown), on ``BackoffPolicy``'s schedule with its jitter and cap
(:class:`~spec.decisions.backoff.BackoffSchedule`); this module only sleeps and fires. Rate-limit and
authentication errors have their own strategies (:mod:`~runtime.resilience.rate_limit`,
:mod:`~runtime.resilience.auth`) and pass through unretried here; so do the resilience layer's
own refusals (an open breaker means "no retries"). Cancellation is never retried.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from runtime.resilience.classify import classify, escalation_level
from runtime.resilience.clock import Clock, MonotonicClock, sleep_until
from runtime.resilience.errors import ResilienceError
from runtime.resilience.escalation import Escalator
from runtime.resilience.tracing import TraceSink, bind_traced, next_call_id
from spec.decisions.backoff import NO_SPREAD, BackoffSchedule, RetryCore
from spec.machines.retry import RetryTrigger
from spec.policies import DEFAULT_POLICIES, BackoffPolicy
from spec.taxonomy import ErrorClass, category

T = TypeVar("T")
P = ParamSpec("P")


@dataclass(frozen=True)
class AttemptEvent:
    """Emitted before each retry: which retry, and the delay waited before it (seed ``on('attempt')``)."""

    call_id: int
    retry: int
    delay_s: float
    error_class: ErrorClass
    error: BaseException

    @property
    def delay_ms(self) -> float:
        """The delay in milliseconds, the unit of the seed's test (``[1000, 2000, 4000]``)."""
        return self.delay_s * 1000.0


AttemptListener = Callable[[AttemptEvent], None]
Classifier = Callable[[BaseException], ErrorClass]


def retries_with_backoff(error: BaseException, error_class: ErrorClass) -> bool:
    """Whether the retry handler retries `error`: retryable by the taxonomy, with backoff, not ours."""
    if isinstance(error, ResilienceError):
        return False
    return category(error_class).retries_with_backoff


class RetryHandler:
    """Retries an async call on retryable errors with exponential backoff.

    Use ``await handler.execute(fn, *args)`` or decorate: ``@handler.wrap``. Listen to attempts
    with :meth:`on_attempt`. With an :class:`Escalator`, a call that exhausts its retries is
    escalated at the level the taxonomy names for its class.
    """

    def __init__(
        self,
        policy: BackoffPolicy = DEFAULT_POLICIES.backoff,
        *,
        clock: Clock | None = None,
        classifier: Classifier = classify,
        rng: random.Random | None = None,
        escalator: Escalator | None = None,
        trace_sink: TraceSink | None = None,
        name: str = "retry",
    ) -> None:
        self.policy = policy
        self.schedule = BackoffSchedule(policy)
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.classifier = classifier
        self.rng = rng if rng is not None else random.Random()
        self.escalator = escalator
        self.trace_sink = trace_sink
        self.name = name
        self._listeners: list[AttemptListener] = []

    def on_attempt(self, listener: AttemptListener) -> Callable[[], None]:
        """Call `listener` before every retry; returns a function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def delay_s(self, retry: int) -> float:
        """The wait before retry number `retry`: the schedule's delay for a draw from this handler's stream."""
        return self.schedule.delay_s(retry, self.rng.random())

    async def execute(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn(*args, **kwargs)``, retrying per the policy; the last error is re-raised."""
        call_id = next_call_id()
        run = bind_traced("retry", component=f"{self.name}:{call_id}", clock=self.clock, sink=self.trace_sink)
        core = RetryCore(self.schedule)
        run.fire(core.started())
        while True:
            try:
                result = await fn(*args, **kwargs)
            except asyncio.CancelledError:
                run.fire(core.cancelled())
                raise
            except Exception as exc:
                error_class = self.classifier(exc)
                draw = self.rng.random() if self.policy.jitter > 0 else NO_SPREAD
                decision = core.failed(self.clock.now(), retryable=retries_with_backoff(exc, error_class), draw=draw)
                run.fire(decision.trigger)
                if decision.trigger is RetryTrigger.FAIL_PERMANENT:
                    raise
                if decision.trigger is RetryTrigger.GIVE_UP:
                    exc.add_note(f"{self.name}: gave up after {core.retries_done} retries ({error_class.value} error)")
                    await self._escalate(exc, error_class, core.retries_done)
                    raise
                assert decision.deadline is not None and decision.delay_s is not None
                event = AttemptEvent(call_id, core.retries_done, decision.delay_s, error_class, exc)
                for listener in list(self._listeners):
                    listener(event)
                try:
                    await sleep_until(self.clock, decision.deadline)
                except asyncio.CancelledError:
                    run.fire(core.cancelled())
                    raise
                run.fire(core.retried())
                continue
            run.fire(core.succeeded())
            return result

    def wrap(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Decorator form of :meth:`execute`."""

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self.execute(fn, *args, **kwargs)

        return wrapper

    async def _escalate(self, exc: Exception, error_class: ErrorClass, retries: int) -> None:
        level = escalation_level(error_class)
        if self.escalator is None or level is None:
            return
        await self.escalator.escalate(
            level,
            f"{error_class.value} error persisted after {retries} retries: {exc}",
            source=self.name,
            details={"error_class": error_class.value, "retries": retries, "error": type(exc).__name__},
        )
