"""The simulator's event trace: every transition of every spec machine, stamped with simulated time.

Components are driven through ``MACHINES[name].bind()`` wrapped in a :class:`TracedMachine`,
which appends one :class:`Entry` per transition. Entries are plain tuples because a busy model
records hundreds of thousands of them; :meth:`TraceRecorder.events` turns them into
`spec.trace.TraceEvent` objects (``TraceEvent.from_record``) for writing, rendering and
conformance replay.

The trace hash covers, per event, time, component, machine, trigger, source, destination and
data: the messages are a function of (machine, source, trigger), so hashing them too would add
cost and no information.
"""

from __future__ import annotations

import hashlib
import json
import sys
from array import array
from collections.abc import Callable, Iterable
from operator import itemgetter
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
    """One component's machine instance; ``fire`` attaches optional data to the traced transition.

    It appends the trace entry itself from the record ``MachineInstance.fire`` returns, rather
    than through a listener: a listener cannot see the per-call data without a side channel,
    and the heartbeat-heavy models fire hundreds of thousands of times per run.
    """

    __slots__ = ("component", "instance", "_model", "_entries", "_clock")

    def __init__(self, recorder: TraceRecorder, machine: str, component: str, initial: str | None) -> None:
        self.component = component
        self.instance: MachineInstance = MACHINES[machine].bind(initial=initial)
        self._model: Any = self.instance.model  # `transitions` keeps the state on the model
        self._entries = recorder.entries
        self._clock = recorder.clock

    @property
    def state(self) -> str:
        # What ``MachineInstance.state`` returns, read without its two extra calls: the models ask
        # for the state of a worker on every heartbeat and poll.
        state: str = self._model.state
        return state

    def can_fire(self, trigger: str) -> bool:
        return self.instance.can_fire(trigger)

    def fire(self, trigger: str, data: dict[str, Any] | None = None) -> None:
        r = self.instance.fire(trigger)
        # tuple.__new__ builds the same Entry as Entry(...) at half the cost of the generated __new__.
        self._entries.append(_new_entry(Entry, (self._clock(), self.component, r.machine, r.trigger, r.source,
                                                r.dest, data)))


_new_entry = tuple.__new__


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
    """SHA-256 of the canonical trace; equal for equal runs on any machine and hash seed.

    Hashed column by column, so every loop over the entries runs in C (a per-entry Python loop
    cost as much as a tenth of a large run): the number of entries; every time as a
    little-endian IEEE-754 double (exact, like ``repr``); per entry the compact JSON of
    ``[component, machine, trigger, source, dest]``, newline-separated (JSON strings never contain
    a raw newline), each distinct combination encoded once; and the key-sorted JSON of the list
    of data (``null`` for none).
    """
    rows = entries if isinstance(entries, list) else list(entries)
    dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
    times = array("d", map(_TIME, rows))
    if sys.byteorder == "big":  # pragma: no cover - the same hash on every platform
        times.byteswap()
    names = _EncodedNames(dumps)
    h = hashlib.sha256()
    h.update(len(rows).to_bytes(8, "little"))
    h.update(times.tobytes())
    h.update("\n".join(map(names.__getitem__, map(_NAMES, rows))).encode())
    h.update(b"\n")
    h.update(dumps(list(map(_DATA, rows))).encode())
    return h.hexdigest()


_TIME, _NAMES, _DATA = itemgetter(0), itemgetter(1, 2, 3, 4, 5), itemgetter(6)


class _EncodedNames(dict[tuple[str, ...], str]):
    """(component, machine, trigger, source, dest) -> its JSON, encoded on first use."""

    def __init__(self, dumps: Callable[[Any], str]) -> None:
        super().__init__()
        self._dumps = dumps

    def __missing__(self, key: tuple[str, ...]) -> str:
        encoded = self[key] = self._dumps(list(key))
        return encoded
