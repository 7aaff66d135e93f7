"""Binding a spec machine per call, and turning its transitions into trace events.

Every component of the resilience layer executes a machine of `spec.machines` (retry,
rate_limit, auth_error, circuit_breaker). Its transitions become :class:`spec.trace.TraceEvent`
lines for a trace writer, so a run can be replayed against the spec (``spec.conformance``
also checks their times against the policies, and reads ``retryAfterS`` from rate-limit events).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from runtime.resilience.clock import Clock
from spec.machine import MachineInstance, TransitionRecord
from spec.machines import machine
from spec.trace import TraceEvent

#: Receives one trace event per machine transition (for example ``spec.trace.write_event``).
TraceSink = Callable[[TraceEvent], None]

_call_ids = itertools.count(1)


def next_call_id() -> int:
    """A process-wide unique number for one call, used in trace component names."""
    return next(_call_ids)


class _Run:
    """The model object of one bound machine; `transitions` adds ``state`` and the triggers."""


class TracedMachine:
    """One live spec machine whose transitions go to a trace sink, with per-transition data."""

    def __init__(
        self,
        machine_name: str,
        *,
        component: str,
        clock: Clock,
        sink: TraceSink | None,
        data: dict[str, Any] | None = None,
    ) -> None:
        self.component = component
        self._clock = clock
        self._sink = sink
        self._data = dict(data or {})
        self._extra: dict[str, Any] = {}
        listener = self._emit if sink is not None else None
        self.instance: MachineInstance = machine(machine_name).bind(_Run(), listener=listener)

    @property
    def state(self) -> str:
        return self.instance.state

    @property
    def is_finished(self) -> bool:
        return self.instance.is_finished

    def fire(self, trigger: str, **data: Any) -> TransitionRecord:
        """Fire `trigger`; `data` is added to this transition's trace event only."""
        self._extra = data
        try:
            return self.instance.fire(trigger)
        finally:
            self._extra = {}

    def _emit(self, record: TransitionRecord) -> None:
        if self._sink is not None:
            data = {**self._data, **self._extra}
            self._sink(TraceEvent.from_record(record, time=max(0.0, self._clock.now()), component=self.component,
                                              data=data))


def bind_traced(
    machine_name: str,
    *,
    component: str,
    clock: Clock,
    sink: TraceSink | None,
    data: dict[str, Any] | None = None,
) -> TracedMachine:
    """A fresh instance of spec machine `machine_name`, reporting transitions to `sink`."""
    return TracedMachine(machine_name, component=component, clock=clock, sink=sink, data=data)
