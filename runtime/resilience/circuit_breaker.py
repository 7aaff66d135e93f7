"""The circuit breaker (seed 4.5), executing the spec's ``circuit_breaker`` machine.

``CircuitBreakerPolicy`` decides when the machine's triggers fire: the ``failure_threshold``-th
failure within the sliding ``window_s`` trips it open; after ``open_duration_s`` the next call
becomes the single half-open trial; every other call while open or during the trial fails fast
with :class:`CircuitOpenError`. One breaker guards one external service; :class:`BreakerRegistry`
keeps them by name.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from runtime.resilience.clock import Clock, MonotonicClock
from runtime.resilience.errors import CircuitOpenError
from runtime.resilience.tracing import TraceSink, bind_traced
from spec.machines import MACHINES
from spec.policies import DEFAULT_POLICIES, CircuitBreakerPolicy

T = TypeVar("T")
P = ParamSpec("P")

_MACHINE = MACHINES["circuit_breaker"]
#: State names, read from the spec's table rather than written again.
CLOSED = _MACHINE.initial
OPEN = _MACHINE.next_state(CLOSED, "trip")
HALF_OPEN = _MACHINE.next_state(OPEN, "probe")


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


def counts_every_error(exc: BaseException) -> bool:
    """Default: every exception of the call counts as a failure of the service."""
    return True


@dataclass
class _Ticket:
    """One admitted call: whether it is the half-open trial, and which open/close cycle admitted it."""

    trial: bool
    epoch: int


class CircuitBreaker:
    """Fails fast while a service is down; use ``execute``, ``guard()`` or the ``protect`` decorator."""

    def __init__(
        self,
        service: str,
        policy: CircuitBreakerPolicy = DEFAULT_POLICIES.circuit_breaker,
        *,
        clock: Clock | None = None,
        is_failure: FailurePredicate = counts_every_error,
        trace_sink: TraceSink | None = None,
    ) -> None:
        self.service = service
        self.policy = policy
        self.clock: Clock = clock if clock is not None else MonotonicClock()
        self.is_failure = is_failure
        self._run = bind_traced(
            "circuit_breaker",
            component=f"circuit_breaker:{service}",
            clock=self.clock,
            sink=trace_sink,
            data={"service": service},
        )
        self._failures: deque[float] = deque()
        self._opened_at: float | None = None
        self._trials_in_flight = 0
        self._epoch = 0
        self._listeners: list[StateListener] = []

    # -- observation ------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._run.state

    def get_state(self) -> str:
        """The seed test's ``circuitBreaker.getState()``."""
        return self.state

    def failures_in_window(self) -> int:
        self._prune(self.clock.now())
        return len(self._failures)

    def retry_in_s(self) -> float:
        """Seconds until a trial call is allowed (0 when closed or when the open duration is over)."""
        if self.state != OPEN or self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.policy.open_duration_s - self.clock.now())

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
        ticket = self.admit()
        try:
            yield
        except Exception as exc:
            self._finish(ticket, failed=self.is_failure(exc))
            raise
        except BaseException:
            # Cancellation (or an interpreter exit) says nothing about the service, but an abandoned
            # trial must not leave the breaker half-open forever: the spec's trial_abandoned reopens it
            # without restarting the open duration, so the next call becomes the new trial.
            if ticket.trial:
                self._abandon(ticket)
            raise
        self._finish(ticket, failed=False)

    def admit(self) -> _Ticket:
        """Decide whether a call may go through now; fires admit, probe, reject or reject_during_trial."""
        state = self.state
        if state == CLOSED:
            self._fire("admit")
            return _Ticket(trial=False, epoch=self._epoch)
        if state == OPEN:
            if self.retry_in_s() > 0:
                self._fire("reject")
                raise CircuitOpenError(self.service, self.retry_in_s())
            self._fire("probe")
            self._trials_in_flight += 1
            return _Ticket(trial=True, epoch=self._epoch)
        if self._trials_in_flight < self.policy.half_open_max_trials:
            # Only reachable with half_open_max_trials > 1: extra trials ride on the same probe.
            self._trials_in_flight += 1
            return _Ticket(trial=True, epoch=self._epoch)
        self._fire("reject_during_trial")
        raise CircuitOpenError(self.service, 0.0, trial_in_flight=True)

    def force_open(self) -> None:
        """Open the breaker now (operator action, tests): fires trip or trial_failed as the table says."""
        if self.state == CLOSED:
            self._fire("trip")
        elif self.state == HALF_OPEN:
            self._trials_in_flight = 0
            self._fire("trial_failed")
        self._open_now()

    # -- internals --------------------------------------------------------------------------

    def _finish(self, ticket: _Ticket, *, failed: bool) -> None:
        now = self.clock.now()
        if ticket.epoch != self._epoch:
            return  # admitted before the breaker last changed state: a stale outcome
        if ticket.trial:
            self._trials_in_flight = max(0, self._trials_in_flight - 1)
            if self.state != HALF_OPEN:
                return
            if failed:
                self._trials_in_flight = 0
                self._fire("trial_failed")
                self._open_now()
            else:
                self._trials_in_flight = 0
                self._failures.clear()
                self._opened_at = None
                self._fire("trial_succeeded")
                self._epoch += 1
            return
        if self.state != CLOSED:
            return
        if not failed:
            self._fire("record_success")
            return
        self._prune(now)
        self._failures.append(now)
        if len(self._failures) >= self.policy.failure_threshold:
            self._fire("trip")
            self._open_now()
        else:
            self._fire("record_failure")

    def _abandon(self, ticket: _Ticket) -> None:
        if ticket.epoch != self._epoch or self.state != HALF_OPEN:
            return
        self._trials_in_flight = 0
        self._fire("trial_abandoned")
        self._epoch += 1

    def _open_now(self) -> None:
        self._opened_at = self.clock.now()
        self._failures.clear()
        self._epoch += 1

    def _prune(self, now: float) -> None:
        horizon = now - self.policy.window_s
        while self._failures and self._failures[0] <= horizon:
            self._failures.popleft()

    def _fire(self, trigger: str) -> None:
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
        is_failure: FailurePredicate = counts_every_error,
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
