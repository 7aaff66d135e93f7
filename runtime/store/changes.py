"""What one store transaction changed: machine transitions to trace and events to publish.

Repository functions validate every status change on the spec machine (``advance``) and
collect the resulting records here. The caller commits first and only then traces and
publishes, so nothing is announced that the database does not hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from runtime.protocol import Event
from runtime.store.models import EventRow
from spec.machine import TransitionRecord
from spec.machines import MACHINES


@dataclass(frozen=True)
class Change:
    component: str
    record: TransitionRecord
    data: dict[str, Any]


@dataclass
class ChangeLog:
    transitions: list[Change] = field(default_factory=list)
    #: Event rows added in this transaction; their ids are assigned when it flushes (at the latest, on commit).
    event_rows: list[EventRow] = field(default_factory=list)
    #: Events inserted by a set-based statement (`runtime.store.reports`), ids already known.
    inserted_events: list[Event] = field(default_factory=list)
    #: Tasks that became leasable; wakes long-polling workers.
    tasks_queued: int = 0

    @property
    def events(self) -> list[Event]:
        """The events to publish, in id order; read after the commit, when every row has its id."""
        from runtime.store.event_log import to_event

        events = [to_event(row) for row in self.event_rows]
        if not self.inserted_events:
            return events
        return sorted([*events, *self.inserted_events], key=lambda e: e.id)

    def add_events(self, events: Iterable[Event]) -> None:
        self.inserted_events.extend(events)

    def advance(
        self, machine: str, component: str, current: str, trigger: str, data: dict[str, Any] | None = None
    ) -> str:
        """Fire `trigger` on `machine` from the stored state `current`; return the new state.

        Raises :class:`spec.errors.IllegalTransitionError` (→ 409) when the machine forbids it.
        """
        row = MACHINES[machine].transition_for(current, trigger)
        dest = row.destination_from(current)
        record = TransitionRecord(machine, trigger, current, dest, row.messages)
        self.transitions.append(Change(component, record, data or {}))
        return dest


def task_component(task_id: str) -> str:
    return f"task:{task_id}"


def worker_component(worker_id: str, incarnation: int = 1) -> str:
    return f"worker:{worker_id}" if incarnation <= 1 else f"worker:{worker_id}~{incarnation}"


def workflow_component(workflow_id: str) -> str:
    return f"workflow:{workflow_id}"
