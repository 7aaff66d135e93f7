"""What a task handler sees: its payload, its dependencies' results, its workspace, progress, commands, cancellation.

Handlers are ``async def handler(ctx: TaskContext) -> dict``. They must not block the event loop
(the heartbeat shares it): run blocking work through :meth:`TaskContext.run` (a subprocess under
the task's limits) or ``asyncio.to_thread``. Cancellation arrives as ``asyncio.CancelledError``;
a handler that wants to leave resumable state calls :meth:`TaskContext.save_state` first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.protocol import TaskAssignment
from runtime.worker.failures import command_failure
from runtime.worker.limits import CommandResult, TaskLimits, run_limited
from runtime.worker.progress import ProgressReporter
from spec.taxonomy import FailureCode

#: Variables a command inherits from the worker; everything else starts empty (isolation).
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV")


class CancelReason:
    """Why the runner cancelled a handler; decides what the task reports."""

    TIMEOUT = "timeout"  # time limit: failed/TIMEOUT
    INTERRUPT = "interrupt"  # worker shutdown or the orchestrator's cancellation: interrupted + state
    LEASE_LOST = "lease_lost"  # the orchestrator gave the task away: report nothing


@dataclass
class TaskContext:
    """One running task, as its handler sees it."""

    assignment: TaskAssignment
    worker_id: str
    workspace: Path
    limits: TaskLimits
    reporter: ProgressReporter
    saved_state: dict[str, Any] = field(default_factory=dict)
    cancel_reason: str | None = None
    #: Where a saved state is also written, so it outlives this process (the task's workspace).
    persist_state: Callable[[dict[str, Any]], None] | None = None

    @property
    def task_id(self) -> str:
        return self.assignment.task_id

    @property
    def workflow_id(self) -> str:
        return self.assignment.workflow_id

    @property
    def type(self) -> str:
        return self.assignment.type

    @property
    def payload(self) -> dict[str, Any]:
        return self.assignment.payload

    @property
    def dependencies(self) -> dict[str, dict[str, Any]]:
        """The results of the tasks this one depends on, by their ids in the workflow's submission.

        Empty for a task without dependencies (and for every one-task workflow).
        """
        return self.assignment.dependencies

    @property
    def attempt(self) -> int:
        return self.assignment.attempt

    @property
    def is_cancelled(self) -> bool:
        return self.cancel_reason is not None

    async def progress(
        self, percentage: float, step: str = "", details: dict[str, Any] | None = None, *, milestone: bool = False
    ) -> None:
        """Report progress; sent at once for a milestone, otherwise at most every ProgressPolicy.interval_s."""
        await self.reporter.update(percentage, step, details, milestone=milestone)

    def save_state(self, state: dict[str, Any]) -> None:
        """State to hand back if the task is interrupted (seed 4.4 ``saveTaskState()``); also kept in
        the workspace, so that if this worker process dies the next one hands it back with the task."""
        self.saved_state = dict(state)
        if self.persist_state is not None:
            self.persist_state(self.saved_state)

    def command_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """A small environment: HOME and TMPDIR inside the workspace, nothing secret from the worker."""
        env = {name: os.environ[name] for name in INHERITED_ENV if name in os.environ}
        env.update(HOME=str(self.workspace), TMPDIR=str(self.workspace / "tmp"), TASK_ID=self.task_id,
                   WORKFLOW_ID=self.workflow_id)
        env.update(extra or {})
        return env

    async def run(
        self,
        *argv: str,
        env: dict[str, str] | None = None,
        check: bool = True,
        failure_code: FailureCode = FailureCode.TASK_ERROR,
    ) -> CommandResult:
        """Run a command in the workspace under the task's limits; with `check`, fail the task on non-zero."""
        result = await run_limited(argv, cwd=self.workspace, limits=self.limits, env=self.command_env(env))
        if check and not result.ok:
            raise command_failure(result, failure_code)
        return result
