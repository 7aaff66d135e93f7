"""The simulator's event trace: every transition of every spec machine, stamped with simulated time.

Components are driven through ``MACHINES[name].bind(listener=...)``; the listener appends one
:class:`Entry` per transition. Entries are plain tuples because a busy model records hundreds of
thousands of them; :meth:`TraceRecorder.events` turns them into `spec.trace.TraceEvent` objects
(``TraceEvent.from_record``) for writing, rendering and conformance replay.

The trace hash covers, per event, time, component, machine, trigger, source, destination and
data: the messages are a function of (machine, source, trigger), so hashing them too would add
cost and no information.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from spec.machine import MachineInstance, TransitionRecord
from spec.machines import MACHINES
from spec.trace import TraceEvent


class Entry(NamedTuple):
    time: float
    component: str
    machine: str
    trigger: str
    source: str
    dest: str
    data: dict[str, Any] | None


class TracedMachine:
    """One component's machine instance; ``fire`` attaches optional data to the traced transition."""

    __slots__ = ("component", "instance", "_pending")

    def __init__(self, recorder: TraceRecorder, machine: str, component: str, initial: str | None) -> None:
        self.component = component
        self._pending: dict[str, Any] | None = None
        clock = recorder.clock
        entries = recorder.entries

        def listen(record: TransitionRecord) -> None:
            entries.append(
                Entry(clock(), component, record.machine, record.trigger, record.source, record.dest, self._pending)
            )

        self.instance: MachineInstance = MACHINES[machine].bind(initial=initial, listener=listen)

    @property
    def state(self) -> str:
        return self.instance.state

    def can_fire(self, trigger: str) -> bool:
        return self.instance.can_fire(trigger)

    def fire(self, trigger: str, data: dict[str, Any] | None = None) -> None:
        self._pending = data
        try:
            self.instance.fire(trigger)
        finally:
            self._pending = None


class TraceRecorder:
    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.entries: list[Entry] = []

    def bind(self, machine: str, component: str, *, initial: str | None = None) -> TracedMachine:
        return TracedMachine(self, machine, component, initial)

    def events(self, entries: Iterable[Entry] | None = None) -> list[TraceEvent]:
        return [to_event(e) for e in (self.entries if entries is None else entries)]

    def digest(self) -> str:
        return trace_digest(self.entries)


def to_event(entry: Entry) -> TraceEvent:
    row = MACHINES[entry.machine].transition_for(entry.source, entry.trigger)
    record = TransitionRecord(entry.machine, entry.trigger, entry.source, entry.dest, row.messages)
    return TraceEvent.from_record(record, time=entry.time, component=entry.component, data=entry.data)


def trace_digest(entries: Iterable[Entry]) -> str:
    """SHA-256 of the canonical trace; equal for equal runs on any machine and hash seed."""
    h = hashlib.sha256()
    dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
    for e in entries:
        h.update(dumps([repr(e.time), e.component, e.machine, e.trigger, e.source, e.dest, e.data or {}]).encode())
        h.update(b"\n")
    return h.hexdigest()
