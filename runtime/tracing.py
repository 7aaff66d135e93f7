"""Appends every machine transition the runtime performs to a ``.jsonl`` trace (issue 3 §9).

The line format is `spec.trace` version 1, so ``python -m spec render --trace FILE`` draws the
run and the conformance checks replay it on the same machines. Lines are flushed one by one:
after a SIGKILL the trace holds every transition written before it. The orchestrator writes a
store transaction's transitions after its commit, so a kill between the two leaves committed
transitions untraced (the store has them); nothing is ever traced that was not committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from runtime.errors import RuntimeConfigError
from spec.machine import TransitionListener, TransitionRecord
from spec.trace import TraceEvent, write_event


class TraceWriter:
    """Writes transitions to a file, or drops them when no path is configured."""

    def __init__(self, path: Path | None, clock: Callable[[], float] = time.time) -> None:
        """`clock` stamps each line (epoch seconds); the orchestrator passes its own, virtual in tests."""
        self.path = path
        self.clock = clock
        self._lock = threading.Lock()
        self._stream: IO[str] | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._stream = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise RuntimeConfigError(f"trace file {path}: cannot open for appending ({exc.strerror})") from None

    @property
    def enabled(self) -> bool:
        return self._stream is not None

    def record(self, record: TransitionRecord, component: str, data: dict[str, Any] | None = None) -> None:
        if self._stream is None:
            return
        event = TraceEvent.from_record(record, time=self.clock(), component=component, data=data)
        with self._lock:
            write_event(self._stream, event)
            self._stream.flush()

    def listener(self, component: str, data: dict[str, Any] | None = None) -> TransitionListener:
        """A `MachineInstance` listener that traces under `component`."""

        def _listen(record: TransitionRecord) -> None:
            self.record(record, component, data)

        return _listen

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None
