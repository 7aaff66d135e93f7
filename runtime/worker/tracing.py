"""The worker's trace: every machine transition it makes, as `spec.trace` JSON lines (issue 3 §9).

Writing is `runtime.tracing.TraceWriter`'s job (shared with the orchestrator, flushed per line so
a SIGKILLed worker leaves a trace that ends at its last transition). This adds what the worker
needs on top: binding spec machines under a component name (``worker:<id>``, ``task:<id>``, ...)
and, for tests and embedding programs, keeping the events in memory.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from runtime.tracing import TraceWriter
from spec.machine import MachineInstance, TransitionListener, TransitionRecord
from spec.machines import MACHINES
from spec.trace import TraceEvent


class TraceRecorder:
    """Records transitions to a ``.jsonl`` file (when `path` is given) and/or in ``events`` (`keep`)."""

    def __init__(self, path: Path | str | None = None, *, keep: bool = False) -> None:
        self.writer = TraceWriter(Path(path) if path is not None else None)
        self.keep = keep
        self.events: list[TraceEvent] = []

    def listener(self, component: str, data: dict[str, Any] | None = None) -> TransitionListener:
        """A machine listener that records under `component`, with `data` on every line."""

        def record(transition: TransitionRecord) -> None:
            self.record(transition, component, data)

        return record

    def record(self, transition: TransitionRecord, component: str, data: dict[str, Any] | None = None) -> None:
        self.writer.record(transition, component, data)
        if self.keep:
            self.events.append(TraceEvent.from_record(transition, time=time.time(), component=component, data=data))

    def bind(
        self, machine: str, component: str, *, initial: str | None = None, data: dict[str, Any] | None = None
    ) -> MachineInstance:
        """Bind the spec machine called `machine`, recording its transitions under `component`."""
        return MACHINES[machine].bind(initial=initial, listener=self.listener(component, data))

    def close(self) -> None:
        self.writer.close()
