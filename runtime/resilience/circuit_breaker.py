"""The circuit breaker (seed 4.5), an asyncio driver of `spec.decisions.circuit_breaker`.

The rules -- the sliding window, the threshold, the open duration, half-open trials, stale
outcomes -- live in :class:`~spec.decisions.circuit_breaker.BreakerCore`; this module feeds it
calls and outcomes with its clock's ``now``, fires the trigger it returns on the traced
``circuit_breaker`` machine, and raises :class:`CircuitOpenError` when the core refuses a call.
What counts as a failure is the taxonomy's ``counts_against_breaker`` of the error's class
unless the caller passes its own predicate. One breaker guards one external service;
:class:`BreakerRegistry` keeps them by name.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from runtime.resilience.classify import counts_against_breaker
from runtime.resilience.clock import Clock, MonotonicClock
from runtime.resilience.errors import CircuitOpenError
from runtime.resilience.tracing import TraceSink, bind_traced
from spec.decisions.circuit_breaker import Admission, BreakerCore
from spec.machines.circuit_breaker import BreakerState, BreakerTrigger
from spec.policies import DEFAULT_POLICIES, CircuitBreakerPolicy
from spec.trace import TraceKey

T = TypeVar("T")
P = ParamSpec("P")

#: State names, from the spec's machine module.
CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


@dataclass(frozen=True)
class StateChange:
    """A breaker moved between states (seed "Circuit state: Track state transitions")."""

    service: str
    source: str
    dest: str
    trigger: str
    at: float


StateListener = Callable[[StateChange], None]
FailurePredicate = Callable[[BaseException], bool]


class CircuitBreaker:
    """Fails fast while a service is down; use ``execute``, ``guard()`` or the ``protect`` decorator."""

    def __init__(
        self,
        service: str,
        policy: CircuitBreakerPolicy = DEFAULT_POLICIES.circuit_breaker,
        *,
        clock: Clock | None = None,
        is_failure: FailurePredicate = counts_against_breaker,
        trace_sink: TraceSink | None = None,
    ) -> None:
        self.service = service
        self.policy = policy
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.is_failure = is_failure
        self.core = BreakerCore(policy)
        self._run = bind_traced(
            "circuit_breaker",
            component=f"circuit_breaker:{service}",
            clock=self.clock,
            sink=trace_sink,
            data={TraceKey.SERVICE: service},
        )
        self._listeners: list[StateListener] = []

    # -- observation ------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._run.state

    def get_state(self) -> str:
        """The seed test's ``circuitBreaker.getState()``."""
        return self.state

    def failures_in_window(self) -> int:
        return self.core.window.count(self.clock.now())

    def retry_in_s(self) -> float:
        """Seconds until a trial call is allowed (0 when closed or when the open duration is over)."""
        return self.core.retry_in_s(self.clock.now())

    def on_state_change(self, listener: StateListener) -> Callable[[], None]:
        """Call `listener` on every state change; returns a function that unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- use --------------------------------------------------------------------------------

    async def execute(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` through the breaker; raise :class:`CircuitOpenError` without calling it while open."""
        async with self.guard():
            return await fn(*args, **kwargs)

    def protect(self, fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        """Decorator form of :meth:`execute`."""

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return await self.execute(fn, *args, **kwargs)

        return wrapper

    @asynccontextmanager
    async def guard(self) -> AsyncIterator[None]:
        """Admit one call (or raise :class:`CircuitOpenError`) and record how the block ended."""
        admission = self.admit()
        try:
            yield
        except Exception as exc:
            self._finish(admission, failed=self.is_failure(exc))
            raise
        except BaseException:
            # Cancellation (or an interpreter exit) says nothing about the service; the core
            # reopens an abandoned trial without restarting the open duration.
            self._fire(self.core.abandon(admission))
            raise
        self._finish(admission, failed=False)

    def admit(self) -> Admission:
        """Decide whether a call may go through now; fires admit, probe, reject or reject_during_trial."""
        admission = self.core.admit(self.clock.now())
        self._fire(admission.trigger)
        if admission.admitted:
            return admission
        if admission.trigger is BreakerTrigger.REJECT:
            raise CircuitOpenError(self.service, admission.retry_in_s)
        raise CircuitOpenError(self.service, 0.0, trial_in_flight=True)

    def force_open(self) -> None:
        """Open the breaker now (operator action, tests): fires trip or trial_failed as the table says."""
        self._fire(self.core.force_open(self.clock.now()))

    # -- internals --------------------------------------------------------------------------

    def _finish(self, admission: Admission, *, failed: bool) -> None:
        self._fire(self.core.record(admission, self.clock.now(), counts_as_failure=failed))

    def _fire(self, trigger: BreakerTrigger | None) -> None:
        if trigger is None:
            return
        record = self._run.fire(trigger)
        if record.source != record.dest:
            change = StateChange(self.service, record.source, record.dest, trigger, self.clock.now())
            for listener in list(self._listeners):
                listener(change)


class BreakerRegistry:
    """One breaker per named external service, created on first use with shared settings."""

    def __init__(
        self,
        policy: CircuitBreakerPolicy = DEFAULT_POLICIES.circuit_breaker,
        *,
        clock: Clock | None = None,
        is_failure: FailurePredicate = counts_against_breaker,
        trace_sink: TraceSink | None = None,
    ) -> None:
        self.policy = policy
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.is_failure = is_failure
        self.trace_sink = trace_sink
        self._breakers: dict[str, CircuitBreaker] = {}
        self._listeners: list[StateListener] = []

    def get(self, service: str) -> CircuitBreaker:
        """The breaker of `service`, created closed on first use."""
        if not service:
            raise ValueError("service name must not be empty")
        breaker = self._breakers.get(service)
        if breaker is None:
            breaker = CircuitBreaker(
                service, self.policy, clock=self.clock, is_failure=self.is_failure, trace_sink=self.trace_sink
            )
            for listener in self._listeners:
                breaker.on_state_change(listener)
            self._breakers[service] = breaker
        return breaker

    def __getitem__(self, service: str) -> CircuitBreaker:
        return self.get(service)

    def __contains__(self, service: object) -> bool:
        return service in self._breakers

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter(sorted(self._breakers.values(), key=lambda b: b.service))

    def __len__(self) -> int:
        return len(self._breakers)

    def states(self) -> dict[str, str]:
        """Service name → breaker state, sorted by name (for metrics and status endpoints)."""
        return {b.service: b.state for b in self}

    def on_state_change(self, listener: StateListener) -> None:
        """Listen to state changes of every breaker, existing and future."""
        self._listeners.append(listener)
        for breaker in self._breakers.values():
            breaker.on_state_change(listener)
