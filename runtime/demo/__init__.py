"""``python -m runtime demo``: an orchestrator, two workers and the AI-coding workflow in one command (issue 4 §4).

`run_demo` is the whole run; worker processes get the workflow through `register_demo_workflow`
(``python -m runtime worker --demo-platform FILE``); `merge_traces` and `write_trace_outputs`
turn the processes' traces into the run's trace, diagram and conformance verdict.
"""

from __future__ import annotations

from runtime.demo.errors import DemoError, DemoProcessError
from runtime.demo.platform import (
    TraceFile,
    WallClock,
    read_platform_file,
    register_demo_workflow,
    write_platform_file,
)
from runtime.demo.processes import ChildProcess
from runtime.demo.progress import StreamCounts, WorkflowProgress
from runtime.demo.run import DEFAULT_OUT, DemoRun, main, run_demo
from runtime.demo.traces import TraceOutputs, merge_traces, write_trace_outputs

__all__ = [
    "DEFAULT_OUT",
    "ChildProcess",
    "DemoError",
    "DemoProcessError",
    "DemoRun",
    "StreamCounts",
    "TraceFile",
    "TraceOutputs",
    "WallClock",
    "WorkflowProgress",
    "main",
    "merge_traces",
    "read_platform_file",
    "register_demo_workflow",
    "run_demo",
    "write_platform_file",
    "write_trace_outputs",
]
