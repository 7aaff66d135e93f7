"""Live progress of the demo's workflow, drawn with rich from the orchestrator's WebSocket events.

One bar for the task as a whole and one per pipeline step (seed 4.3: issue analysis, code
generation, build and test, git operations). The per-step figures are the seed's own
``{step, progress}`` reports; streamed code chunks and build/test output lines are counted on
their step's line. Milestones are also printed as log lines above the bars, so a run whose
output is not a terminal (CI, a test) still shows what happened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TaskID, TaskProgressColumn, TextColumn
from rich.text import Text

from runtime.protocol import EventType
from runtime.workflow import SEED_PROGRESS, STEP_TITLES

#: Events after which nothing more happens to the workflow.
FINAL_EVENTS = (EventType.WORKFLOW_COMPLETED.value, EventType.WORKFLOW_FAILED.value)
#: The last figure each step reports (seed 4.3: step 2 ends at 90): the step's work is done there.
LAST_SEED_PROGRESS: dict[int, float] = {
    step: max((p.progress for p in SEED_PROGRESS.values() if p.step == step and p.progress is not None), default=100.0)
    for step in STEP_TITLES
}
_QUIET_DETAILS = ("step", "progress", "chunk", "offset", "buildProgress", "testProgress")


@dataclass
class StreamCounts:
    """What the task streamed: code chunks (and their characters), build and test output lines."""

    chunks: int = 0
    chunk_chars: int = 0
    build_lines: int = 0
    test_lines: int = 0
    events: int = 0
    by_type: dict[str, int] = field(default_factory=dict)


class SecondsColumn(ProgressColumn):
    """Elapsed seconds with a decimal: the demo's steps take well under a second each."""

    def render(self, task: Task) -> Text:
        elapsed = task.elapsed
        return Text("     -" if elapsed is None else f"{elapsed:5.1f}s", style="progress.elapsed")


def _short(value: Any, limit: int = 60) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class WorkflowProgress:
    """``with WorkflowProgress(console) as view: view.apply(event)`` for every WebSocket event."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.counts = StreamCounts()
        self.final_event: dict[str, Any] | None = None
        self._progress = Progress(
            TextColumn("{task.description:<22}"), BarColumn(bar_width=24), TaskProgressColumn(),
            SecondsColumn(), TextColumn("{task.fields[info]}"), console=console,
        )
        self._overall: TaskID = self._progress.add_task("workflow", total=100, info="queued")
        self._steps: dict[int, TaskID] = {
            step: self._progress.add_task(f"  {step}. {title}", total=100, info="", start=False)
            for step, title in sorted(STEP_TITLES.items())
        }
        self._timed_steps: set[int] = set()

    def __enter__(self) -> WorkflowProgress:
        self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    @property
    def finished(self) -> bool:
        return self.final_event is not None

    def apply(self, event: dict[str, Any]) -> None:
        """Update the bars from one event of the workflow (the orchestrator's ``Event`` as JSON)."""
        kind = str(event.get("type", ""))
        payload = event.get("payload") or {}
        self.counts.events += 1
        self.counts.by_type[kind] = self.counts.by_type.get(kind, 0) + 1
        if kind == EventType.TASK_PROGRESS:
            self._on_progress(payload)
        elif kind == EventType.TASK_STARTED:
            self._log(escape(f"task {event.get('taskId')} started on {payload.get('workerId')} "
                             f"(attempt {payload.get('attempt')})"))
            self._progress.update(self._overall, info="running")
            self._progress.start_task(self._steps[min(self._steps)])
        elif kind == EventType.TASK_REQUEUED:
            self._log(f"[yellow]task {event.get('taskId')} requeued: {escape(str(payload))}[/]")
        elif kind == EventType.TASK_COMPLETED:
            self._progress.update(self._overall, completed=100, info="completed")
            for step in self._steps:
                self._finish_step(step)
        elif kind in (EventType.TASK_FAILED, EventType.WORKFLOW_FAILED):
            error = payload.get("error") or {}
            self._progress.update(self._overall, info=f"[red]{escape(str(error.get('code', 'failed')))}[/]")
            if kind == EventType.TASK_FAILED:
                first_line = str(error.get("message", "")).splitlines()[:1]
                self._log(f"[red]task failed: {escape(str(error.get('code')))}: {escape(''.join(first_line))}[/]")
        if kind in FINAL_EVENTS:
            self.final_event = event
            self._log(f"{kind.lower().replace('_', ' ')}")

    def _on_progress(self, payload: dict[str, Any]) -> None:
        details = payload.get("details") or {}
        step = details.get("step")
        self._progress.update(self._overall, completed=float(payload.get("percentage", 0.0)),
                              info=escape(str(payload.get("step", ""))))
        if not isinstance(step, int) or step not in self._steps:
            return
        for earlier in range(1, step):  # a later step started: the earlier ones are done
            self._finish_step(earlier)
        task = self._steps[step]
        self._progress.start_task(task)  # the step's clock runs from its first report
        if "chunk" in details:
            self.counts.chunks += 1
            self.counts.chunk_chars += len(str(details["chunk"]))
            self._progress.update(task, info=f"{self.counts.chunks} code chunks streamed "
                                             f"({self.counts.chunk_chars} chars)")
        elif "buildProgress" in details or "testProgress" in details:
            if "buildProgress" in details:
                self.counts.build_lines += 1
            else:
                self.counts.test_lines += 1
            self._progress.update(task, info=f"build: {self.counts.build_lines} lines, "
                                             f"tests: {self.counts.test_lines} lines")
        if "progress" in details:
            self._progress.update(task, completed=float(details["progress"]))
            if float(details["progress"]) >= LAST_SEED_PROGRESS[step]:
                self._stop_clock(step)
            extra = {k: v for k, v in details.items() if k not in _QUIET_DETAILS}
            shown = ", ".join(f"{k}={_short(v)}" for k, v in extra.items())
            self._log(escape(f"step {step} at {float(details['progress']):g}%" + (f": {shown}" if shown else "")))

    def _finish_step(self, step: int) -> None:
        self._progress.update(self._steps[step], completed=100)
        self._stop_clock(step)

    def _stop_clock(self, step: int) -> None:
        """Stop `step`'s clock once and start the next step's (whose first report may come much later)."""
        if step in self._timed_steps:
            return
        self._timed_steps.add(step)
        self._progress.stop_task(self._steps[step])
        if step + 1 in self._steps:
            self._progress.start_task(self._steps[step + 1])

    def _log(self, text: str) -> None:
        self._progress.console.print(text, highlight=False, soft_wrap=True)
