"""The demo's git platform as seen from a worker process: a descriptor file and the ``ai_coding`` handler.

``python -m runtime demo`` creates the demo repository (`runtime.workflow.create_demo_repository`)
and writes where its parts are into a small JSON file; each worker process it starts gets
``--demo-platform FILE`` and registers the reference workflow (issue 4 §3) against that platform.
The layout is read from the file, never guessed, so the demo repository keeps its own layout.

The pipeline and resilience machines take their time from a :class:`~runtime.resilience.Clock`;
the demo gives them :class:`WallClock`, so their trace events share the epoch seconds of the
orchestrator's and the worker's own events and one merged trace can be ordered by time.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from runtime.demo.ai_failure import DemoAIFailure, demo_ai_script
from runtime.demo.errors import DemoError
from runtime.resilience import TraceSink
from runtime.worker.agent import Worker
from runtime.workflow import CodingWorkflow, DemoRepository, ScriptedAIProvider, register_coding_workflow
from spec.trace import TraceEvent, write_event

#: Seconds between two streamed code chunks: slow enough to watch the stream, fast enough for a demo.
CHUNK_DELAY_S = 0.05

_FIELDS = {"root": "root", "remote": "remote", "issuesDir": "issues_dir", "pullsDir": "pulls_dir"}


class WallClock:
    """A resilience clock on wall time (``time.time``), so its trace events line up with the other processes'."""

    def now(self) -> float:
        return time.time()

    def wall_time(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def write_platform_file(demo: DemoRepository, path: Path) -> Path:
    """Describe `demo` in `path` (JSON) for worker processes; returns `path`."""
    record: dict[str, Any] = {key: str(getattr(demo, attr)) for key, attr in _FIELDS.items()}
    record["baseBranch"] = demo.base_branch
    path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return path


def read_platform_file(path: Path) -> DemoRepository:
    """The demo platform `path` describes; a :class:`DemoError` names the file and what is wrong with it."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DemoError(f"demo platform file {path}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise DemoError(f"demo platform file {path}: not valid JSON ({exc})") from None
    if not isinstance(record, dict):
        raise DemoError(f"demo platform file {path}: expected a JSON object")
    values: dict[str, Path] = {}
    for key, attr in _FIELDS.items():
        raw = record.get(key)
        if not isinstance(raw, str) or not raw:
            raise DemoError(f"demo platform file {path}: field {key!r} must be a directory path")
        values[attr] = Path(raw)
        if not values[attr].is_dir():
            raise DemoError(f"demo platform file {path}: field {key!r}: {raw} is not a directory")
    base = record.get("baseBranch")
    if not isinstance(base, str) or not base:
        raise DemoError(f"demo platform file {path}: field 'baseBranch' must be a branch name")
    return DemoRepository(values["root"], values["remote"], values["issues_dir"], values["pulls_dir"], base)


class TraceFile:
    """A trace sink appending `spec.trace` lines to a file, flushed one by one (like the worker's own trace)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._stream: IO[str] | None = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise DemoError(f"trace file {path}: cannot open for appending ({exc.strerror})") from None

    def __call__(self, event: TraceEvent) -> None:
        with self._lock:
            if self._stream is not None:
                write_event(self._stream, event)
                self._stream.flush()

    def close(self) -> None:
        with self._lock:
            if self._stream is not None:
                self._stream.close()
                self._stream = None


def register_demo_workflow(worker: Worker, platform_file: Path, trace_path: Path | None = None,
                           ai_failure: str | None = None) -> CodingWorkflow:
    """Register ``ai_coding`` on `worker` against the demo platform in `platform_file`.

    The pipeline's and its resilience layer's transitions are appended to `trace_path` (the
    worker's own ``--trace`` file: every line is written and flushed in one go, in append mode).
    With `ai_failure` (``--demo-ai-failure``) the scripted AI provider fails every analysis that way.
    """
    try:
        failure = DemoAIFailure(ai_failure) if ai_failure is not None else None
    except ValueError:
        known = ", ".join(f.value for f in DemoAIFailure)
        raise DemoError(f"--demo-ai-failure {ai_failure!r}: expected one of {known}") from None
    demo = read_platform_file(platform_file)
    clock = WallClock()
    sink: TraceSink | None = TraceFile(trace_path) if trace_path is not None else None
    return register_coding_workflow(
        worker,
        git=demo.platform(),
        ai=ScriptedAIProvider(demo_ai_script(failure), chunk_delay_s=CHUNK_DELAY_S, clock=clock),
        gates=demo.quality_gates(),
        clock=clock,
        trace_sink=sink,
    )
