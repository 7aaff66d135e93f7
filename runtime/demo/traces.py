"""One trace for the whole demo run: every process's transitions, merged, drawn and checked.

The orchestrator and each worker write their own `spec.trace` file; a worker's file also holds
its pipeline's and resilience layer's transitions (on wall time, see `runtime.demo.platform`).
Both sides name a task ``task:<id>`` and a worker ``worker:<id>`` (each its own view of the same
thing, on different machines), so every component is prefixed with the process that wrote it
before the events are merged in time order. The result is drawn with `spec.render.render_trace`
and replayed on the spec machines with `spec.conformance.check_trace`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from runtime.demo.errors import DemoError
from spec.conformance import ConformanceReport, check_trace
from spec.render import render_trace
from spec.trace import TraceError, TraceEvent, read_trace, write_trace

#: Scheduling jitter a real run on a loaded machine may add to the policies' timing bounds.
TIMING_TOLERANCE_S = 1.0


def merge_traces(sources: Mapping[str, Path]) -> list[TraceEvent]:
    """The events of every ``{process name: trace file}``, components prefixed ``<process>/``, in time order.

    The sort is stable, so events of one component (all from one file) keep their written order.
    """
    merged: list[TraceEvent] = []
    for name, path in sources.items():
        if not path.exists():
            continue  # a process that never made a transition wrote no file
        try:
            events = read_trace(path)
        except TraceError as exc:
            raise DemoError(f"trace of {name}: {exc}") from None
        merged.extend(e.model_copy(update={"component": f"{name}/{e.component}"}) for e in events)
    merged.sort(key=lambda e: e.time)
    return merged


@dataclass(frozen=True)
class TraceOutputs:
    """Where the merged trace and its diagram went, and whether the trace conforms to the spec."""

    trace: Path
    diagram: Path
    events: int
    report: ConformanceReport


def write_trace_outputs(events: list[TraceEvent], out_dir: Path) -> TraceOutputs:
    """Write ``trace.jsonl`` and ``trace.mmd`` into `out_dir` and check the trace (it may start mid-machine)."""
    if not events:
        raise DemoError("the run recorded no transitions: no trace to write (see the logs/ directory)")
    trace_path = out_dir / "trace.jsonl"
    diagram_path = out_dir / "trace.mmd"
    write_trace(trace_path, events)
    try:
        diagram = render_trace(events)
    except TraceError as exc:
        raise DemoError(f"cannot draw {trace_path}: {exc}") from None
    diagram_path.write_text(diagram, encoding="utf-8")
    report = check_trace(events, require_initial=False, tolerance_s=TIMING_TOLERANCE_S)
    return TraceOutputs(trace_path, diagram_path, len(events), report)
