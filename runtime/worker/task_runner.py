"""Executes one leased task end to end (seed 4.3): workspace, started, handler, progress, outcome.

Each task drives its own `task_lifecycle` machine from ``assigned`` — the worker's view starts at
the lease. A transition is fired only after the orchestrator acknowledged the report that goes
with it, so the trace never claims a completion the orchestrator did not accept.

The time limit cancels the handler after ``max_duration_s``; a handler that ignores the
cancellation is abandoned after the same span again, so a timeout is always reported within
twice the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_core import PydanticSerializationError

from runtime.protocol import (
    LeaseReport,
    TaskAssignment,
    TaskCompleted,
    TaskError,
    TaskFailed,
    TaskInterrupted,
    TaskProgress,
    TaskStarted,
)
from runtime.worker.client import OrchestratorClient
from runtime.worker.context import CancelReason, TaskContext
from runtime.worker.errors import LeaseLostError, NotFoundError, OrchestratorError, RateLimitedError
from runtime.worker.failures import classify_exception, task_error, timeout_error
from runtime.worker.handler_call import TaskHandler, invoke_handler, unknown_type
from runtime.worker.limits import TaskLimits
from runtime.worker.progress import ProgressReporter, ProgressUpdate
from runtime.worker.report_batcher import ReportBatcher
from runtime.worker.tracing import TraceRecorder
from runtime.worker.workspace import Workspace, WorkspaceRoot
from spec.machine import MachineInstance
from spec.machines.task_lifecycle import TaskState, TaskTrigger
from spec.policies import Policies
from spec.taxonomy import ErrorClass, FailureCode

log = logging.getLogger("runtime.worker")

#: Tasks re-queued here that the runner remembers (one short id each): a worker leased one of them
#: again after that many others only loses the ``assign`` in its own trace, never a task.
MAX_REMEMBERED_REQUEUES = 4096



@dataclass
class TaskOutcome:
    """How a task ended, from this worker's point of view; ``state`` is its task_lifecycle state."""

    task_id: str
    state: str
    result: dict[str, Any] | None = None
    error: TaskError | None = None


class _Running:
    def __init__(self, ctx: TaskContext, handler_task: asyncio.Task[dict[str, Any]]) -> None:
        self.ctx = ctx
        self.handler_task = handler_task


class TaskRunner:
    """Runs assignments for one worker; knows which tasks are running so they can be interrupted."""

    def __init__(
        self,
        *,
        client: OrchestratorClient,
        worker_id: Callable[[], str],
        handlers: Mapping[str, TaskHandler],
        policies: Policies,
        workspaces: WorkspaceRoot,
        recorder: TraceRecorder,
        reports: ReportBatcher | None = None,
        before_outcome: Callable[[], Awaitable[None]] | None = None,
        system_error: Callable[[str, BaseException], str | None] | None = None,
    ) -> None:
        self._client = client
        #: Sees every exception a handler raised; a reason back means the machine, not the task, is at
        #: fault (a critical system error): the task goes back interrupted with its saved state.
        self._system_error = system_error
        #: Runs before a task's outcome is reported (the worker sends the task's external calls first,
        #: so the orchestrator's metrics hold them by the time the outcome is visible); never raises.
        self._before_outcome = before_outcome
        #: ``started``/``completed``/``failed`` go out coalesced through ``/tasks/reports``.
        self.reports = reports or ReportBatcher(client, policies, worker_id=worker_id)
        self._worker_id = worker_id
        self._handlers = handlers
        self._policies = policies
        self._workspaces = workspaces
        self._recorder = recorder
        self.running: dict[str, _Running] = {}
        #: Tasks whose lease this worker still wants: from assignment until the outcome is delivered
        #: or given up. Heartbeats list them; the orchestrator lets every other lease expire.
        self.held: set[str] = set()
        #: Tasks whose attempt ended here back in ``queued`` (retried, or lease lost), oldest first: if
        #: one is leased here again, this worker's trace shows its ``assign`` so the trace replays.
        self._requeued_here: dict[str, None] = {}

    # -- control from the agent ---------------------------------------------------------------

    def cancel(self, task_id: str, reason: str) -> bool:
        """Cancel a running handler for `reason` (a `CancelReason`); False if it is not running here."""
        running = self.running.get(task_id)
        if running is None or running.handler_task.done():
            return False
        if running.ctx.cancel_reason is None:
            running.ctx.cancel_reason = reason
        running.handler_task.cancel()
        return True

    def interrupt_all(self) -> int:
        return sum(self.cancel(task_id, CancelReason.INTERRUPT) for task_id in list(self.running))

    # -- reports ------------------------------------------------------------------------------

    async def deliver(self, report: LeaseReport, *, token: str | None = None) -> bool:
        """POST `report` to its own endpoint, retrying per BackoffPolicy. False if it never got through.

        Used for interruptions, which are rare and may carry another token; the reports of every
        task's normal path go through :attr:`reports` instead (`_report`).

        A lost lease (409/404) raises `LeaseLostError`: the task belongs to someone else now.
        `token` overrides the worker's own (a dead process's lease, handed back at recovery).
        """
        backoff = self._policies.backoff
        retries = 0
        while True:
            try:
                await self._client.report(report, token=token)
                return True
            except (LeaseLostError, NotFoundError) as exc:
                raise LeaseLostError(str(exc), status=exc.status) from exc
            except RateLimitedError as exc:
                if retries >= self._policies.rate_limit.max_retries:
                    log.warning("giving up on %s after rate limiting: %s", type(report).__name__, exc)
                    return False
                retries += 1
                await asyncio.sleep(self._policies.rate_limit.wait_s(exc.retry_after_s))
            except OrchestratorError as exc:
                if not exc.retryable or not backoff.should_retry(retries):
                    log.warning("giving up on %s for task %s: %s", type(report).__name__, report.task_id, exc)
                    return False
                retries += 1
                await asyncio.sleep(backoff.delay_s(retries))

    async def _report(self, report: TaskStarted | TaskCompleted | TaskFailed | TaskInterrupted) -> bool:
        if isinstance(report, TaskInterrupted):
            return await self.deliver(report)
        return await self.reports.deliver(report)

    def _lease(self, assignment: TaskAssignment) -> dict[str, Any]:
        return {
            "task_id": assignment.task_id,
            "worker_id": self._worker_id(),
            "fencing_token": assignment.fencing_token,
        }

    # -- one task -----------------------------------------------------------------------------

    async def execute(self, assignment: TaskAssignment) -> TaskOutcome:
        """Run one assignment to its end and report it; never raises for task-level problems."""
        self.held.add(assignment.task_id)
        try:
            return await self._execute(assignment)
        finally:
            self.held.discard(assignment.task_id)

    async def _execute(self, assignment: TaskAssignment) -> TaskOutcome:
        task_id = assignment.task_id
        again = task_id in self._requeued_here
        self._requeued_here.pop(task_id, None)
        machine = self._recorder.bind(
            "task_lifecycle",
            f"task:{task_id}",
            initial=(TaskState.QUEUED if again else TaskState.ASSIGNED).value,
            data={
                "workerId": self._worker_id(),
                "attempt": assignment.attempt,
                "fencingToken": assignment.fencing_token,
            },
        )
        if again:  # this trace left the task in ``queued``: its new lease starts from there
            machine.fire(TaskTrigger.ASSIGN)
        lease = self._lease(assignment)
        try:
            limits = TaskLimits.from_policy(self._policies.resources, max_duration_s=_payload_time_limit(assignment))
            workspace = self._workspaces.create(
                task_id, workerId=lease["worker_id"], fencingToken=assignment.fencing_token,
                workflowId=assignment.workflow_id, type=assignment.type,
                # So a restarted process can hand this lease back (worker_recovery); the directory is 0700.
                workerToken=self._client.worker_token,
            )
        except (OSError, ValueError) as exc:
            code = FailureCode.RESOURCE_EXHAUSTED if isinstance(exc, OSError) else FailureCode.TASK_ERROR
            error_class = ErrorClass.SYSTEM if isinstance(exc, OSError) else ErrorClass.VALIDATION
            error = task_error(code, error_class, f"resource allocation failed: {exc}")
            return await self._finish(machine, "allocation_failed", TaskFailed(**lease, error=error), error=error)
        forced_out = False
        try:
            try:
                if not await self._report(TaskStarted(**lease)):
                    return self._abandon(machine, task_id, "the start could not be reported")
            except LeaseLostError:
                return self._abandon(machine, task_id, "lease lost before start")
            machine.fire(TaskTrigger.START)
            return await self._run_handler(assignment, machine, lease, limits, workspace)
        except asyncio.CancelledError:
            forced_out = True  # the worker is being force-stopped: leave the workspace to worker_recovery
            raise
        finally:
            if not forced_out:
                workspace.remove()

    async def _run_handler(
        self,
        assignment: TaskAssignment,
        machine: MachineInstance,
        lease: dict[str, Any],
        limits: TaskLimits,
        workspace: Workspace,
    ) -> TaskOutcome:
        task_id = assignment.task_id
        reporter = ProgressReporter(self._progress_sender(task_id, machine, lease), self._policies.progress)
        ctx = TaskContext(assignment, lease["worker_id"], workspace.path, limits, reporter,
                          saved_state=dict(assignment.saved_state), persist_state=workspace.save_state)
        handler = self._handlers.get(assignment.type)
        handler_task = asyncio.create_task(
            invoke_handler(handler, ctx) if handler is not None
            else unknown_type(assignment.type, sorted(self._handlers))
        )
        periodic = asyncio.create_task(reporter.run_periodic())
        self.running[task_id] = _Running(ctx, handler_task)
        try:
            done, _ = await asyncio.wait({handler_task}, timeout=limits.max_duration_s)
            if not done:
                self.cancel(task_id, CancelReason.TIMEOUT)
                await asyncio.wait({handler_task}, timeout=limits.max_duration_s)
        except asyncio.CancelledError:
            handler_task.cancel()  # the worker itself is being force-stopped: report nothing
            raise
        finally:
            periodic.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await periodic
            del self.running[task_id]

        reason = ctx.cancel_reason
        if reason == CancelReason.LEASE_LOST:
            return self._abandon(machine, task_id, "lease lost while running")
        if reason == CancelReason.TIMEOUT:
            error = timeout_error(limits.max_duration_s)
            return await self._finish(machine, "time_out", TaskFailed(**lease, error=error), error=error)
        interrupted_early = not handler_task.done() or handler_task.cancelled() or handler_task.exception() is not None
        if reason == CancelReason.INTERRUPT and interrupted_early:
            state = {**ctx.saved_state, "progress": _progress_state(reporter.latest)}
            return await self._finish(machine, "interrupt", TaskInterrupted(**lease, state=state))
        if handler_task.cancelled():
            error = task_error(FailureCode.TASK_ERROR, ErrorClass.UNKNOWN, "the handler was cancelled unexpectedly")
            return await self._finish(machine, "fail", TaskFailed(**lease, error=error), error=error)
        exc = handler_task.exception()
        handed_back = self._system_error(task_id, exc) if exc is not None and self._system_error else None
        if handed_back is not None:
            state = {**ctx.saved_state, "progress": _progress_state(reporter.latest), "reason": handed_back}
            return await self._finish(machine, "interrupt", TaskInterrupted(**lease, state=state))
        if exc is not None:
            error = classify_exception(exc)
            log.info("task %s failed: %s", task_id, error.message)
            return await self._finish(machine, "fail", TaskFailed(**lease, error=error), error=error)
        result = handler_task.result()
        if not isinstance(result, dict):
            error = task_error(
                FailureCode.TASK_ERROR, ErrorClass.VALIDATION,
                f"handler for {assignment.type!r} returned {type(result).__name__}, expected a dict",
            )
            return await self._finish(machine, "fail", TaskFailed(**lease, error=error), error=error)
        try:
            completed = TaskCompleted(**lease, result=result)
        except ValidationError as invalid:  # e.g. a key that is not a string: not a JSON object
            error = _garbage_result(assignment.type, invalid)
            return await self._finish(machine, "fail", TaskFailed(**lease, error=error), error=error)
        return await self._finish(machine, "complete", completed, result=result)

    def _progress_sender(
        self, task_id: str, machine: MachineInstance, lease: dict[str, Any]
    ) -> Callable[[ProgressUpdate], Awaitable[None]]:
        delivered_state: list[dict[str, Any]] = []  # the saved state the orchestrator has (once it changed)

        async def send(update: ProgressUpdate) -> None:
            if machine.state != TaskState.RUNNING:
                return
            running = self.running.get(task_id)
            state = dict(running.ctx.saved_state) if running is not None and running.ctx.saved_state else None
            if state is not None and delivered_state and delivered_state[-1] == state:
                state = None  # unchanged since the last report: not sent again
            report = TaskProgress(**lease, percentage=update.percentage, step=update.step, details=update.details,
                                  milestone=update.milestone, state=state)
            try:
                await self._client.report(report)
            except (LeaseLostError, NotFoundError):
                log.warning("task %s: lease lost; abandoning it", task_id)
                self.cancel(task_id, CancelReason.LEASE_LOST)
                return
            except OrchestratorError as exc:
                log.info("task %s: progress not delivered (%s); the next report repeats it", task_id, exc)
                return
            if state is not None:
                delivered_state[:] = [state]
            if machine.state == TaskState.RUNNING:
                machine.fire(TaskTrigger.PROGRESS)

        return send

    async def _finish(
        self,
        machine: MachineInstance,
        trigger: str,
        report: TaskCompleted | TaskFailed | TaskInterrupted,
        *,
        result: dict[str, Any] | None = None,
        error: TaskError | None = None,
    ) -> TaskOutcome:
        if self._before_outcome is not None and not isinstance(report, TaskInterrupted):
            await self._before_outcome()
        try:
            delivered = await self._report(report)
        except LeaseLostError:
            return self._abandon(machine, report.task_id, f"lease lost; {trigger} not accepted")
        except PydanticSerializationError as exc:
            if not isinstance(report, TaskCompleted):
                raise
            # The handler's result is not JSON (a lone surrogate, an object of an unknown type):
            # report that, rather than crash the worker and leave the task to run again forever.
            error = _garbage_result(None, exc)
            failed = TaskFailed(task_id=report.task_id, worker_id=report.worker_id,
                                fencing_token=report.fencing_token, error=error)
            return await self._finish(machine, "fail", failed, error=error)
        if delivered:
            # The orchestrator may answer a failure by queueing the task again (its retry policy):
            # this worker's view of the attempt ends there too, not in ``failed``.
            retried = isinstance(report, TaskFailed) and report.task_id in self.reports.retried
            self.reports.retried.discard(report.task_id)
            machine.fire(TaskTrigger.RETRY if retried else trigger)
            if retried:
                self._ended_in_queue(report.task_id)
        else:
            log.error("task %s: outcome %r never reached the orchestrator; its lease will expire (heartbeats no "
                      "longer claim it) and the task will run again", report.task_id, trigger)
        return TaskOutcome(report.task_id, machine.state, result, error)

    def _abandon(self, machine: MachineInstance, task_id: str, why: str) -> TaskOutcome:
        log.warning("task %s abandoned: %s", task_id, why)
        if machine.can_fire(TaskTrigger.LEASE_LOST):
            machine.fire(TaskTrigger.LEASE_LOST)
            self._ended_in_queue(task_id)
        return TaskOutcome(task_id, machine.state)

    def _ended_in_queue(self, task_id: str) -> None:
        """Remember that this worker's trace left `task_id` in ``queued``; bounded, oldest forgotten first."""
        self._requeued_here[task_id] = None
        if len(self._requeued_here) > MAX_REMEMBERED_REQUEUES:
            del self._requeued_here[next(iter(self._requeued_here))]


def _garbage_result(task_type: str | None, exc: Exception) -> TaskError:
    """The classified error (`spec.classify`, via `classify_exception`) for a result that is no JSON object."""
    classified = classify_exception(exc)
    detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
    whose = f"result of the handler for {task_type!r}" if task_type else "handler's result"
    return task_error(FailureCode(classified.code), ErrorClass(classified.error_class),
                      f"the {whose} is not JSON (a JSON object is expected): {detail}")


def _payload_time_limit(assignment: TaskAssignment) -> float | None:
    """A payload may tighten the time limit with ``maxDurationS`` (never loosen it)."""
    value = assignment.payload.get("maxDurationS")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ValueError(f"payload field 'maxDurationS' must be a positive number of seconds, got {value!r}")
    return float(value)


def _progress_state(update: ProgressUpdate | None) -> dict[str, Any]:
    if update is None:
        return {}
    return {"percentage": update.percentage, "step": update.step, "details": update.details}
