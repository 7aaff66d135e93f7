"""The worker's task slots: up to its concurrency of leased tasks running at once (issue 12, "the fast path").

A worker registers ``maxConcurrency`` slots; each lease fills one and the task's execution —
start report, handler, outcome report — holds it until the outcome was answered. The poll loop
asks :attr:`TaskSlots.free`, and each batch of reports :meth:`TaskSlots.lease_wanted`, how many
more tasks to lease, so a worker leases up to its free concurrency per request and never more
than it registered.

The slots also drive the ``worker_lifecycle`` triggers they cause, exactly where the orchestrator
fires them: ``task_finished`` when the last task ends, and — for tasks leased along with a
report batch — ``task_finished`` (if that batch's outcomes ended every task), ``poll`` and
``task_received`` in the order the orchestrator applied them in that one transaction.

An execution that raises is a bug in the worker, not a task failure: it is kept in
:attr:`TaskSlots.error` and the poll loop stops the worker with it, rather than sit "busy" forever.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from typing import Any

from runtime.protocol import BatchedReport, ReportKind, TaskAssignment
from runtime.worker.task_runner import TaskOutcome
from spec.machine import MachineInstance
from spec.machines.worker_lifecycle import WorkerState, WorkerTrigger

Execute = Callable[[TaskAssignment], Coroutine[Any, Any, TaskOutcome]]


class TaskSlots:
    """Runs assignments concurrently, at most `capacity` at a time as the orchestrator leased them."""

    def __init__(
        self,
        capacity: int,
        execute: Execute,
        *,
        lifecycle: Callable[[], MachineInstance],
        may_lease: Callable[[], bool],
        on_finished: Callable[[TaskOutcome], None] = lambda outcome: None,
        on_empty: Callable[[], None] = lambda: None,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"a worker needs at least one task slot, got {capacity}")
        self.capacity = capacity
        self._execute = execute
        #: The worker's current `worker_lifecycle` instance (a new one after each re-registration).
        self._lifecycle = lifecycle
        self._may_lease = may_lease
        self._on_finished = on_finished
        #: Called after the last running task ended (the worker polls again at once).
        self._on_empty = on_empty
        #: False once the worker stops: leases that still arrive are left to deregistration to re-queue.
        self.accepting = True
        self._running: dict[str, asyncio.Task[TaskOutcome]] = {}
        self._changed = asyncio.Event()
        self.error: BaseException | None = None

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def free(self) -> int:
        return max(0, self.capacity - len(self._running))

    def task_ids(self) -> set[str]:
        return set(self._running)

    def start(self, assignments: list[TaskAssignment]) -> None:
        """Run each assignment in its own slot (an id already running here is a redelivery: ignored)."""
        if not self.accepting:
            return
        for assignment in assignments:
            if assignment.task_id in self._running:
                continue
            execution = asyncio.create_task(self._execute(assignment), name=f"task-{assignment.task_id}")
            self._running[assignment.task_id] = execution
            execution.add_done_callback(functools.partial(self._ended, assignment.task_id))

    def _ended(self, task_id: str, execution: asyncio.Task[TaskOutcome]) -> None:
        if self._running.get(task_id) is execution:
            del self._running[task_id]
        if not execution.cancelled():
            if (error := execution.exception()) is not None:
                self.error = self.error or error
            else:
                self._on_finished(execution.result())
        if not self._running:
            self._fire(WorkerTrigger.TASK_FINISHED)
            self._on_empty()
        self._changed.set()

    # -- leasing along with a batch of reports ---------------------------------------------------

    def lease_wanted(self, batch: list[BatchedReport]) -> int:
        """Tasks a report batch should lease along: the slots free once its outcomes are in."""
        if not self.accepting or not self._may_lease():
            return 0
        return self.free + sum(1 for r in batch if r.kind is not ReportKind.STARTED)

    def leased_along(self, tasks: list[TaskAssignment], batch: list[BatchedReport]) -> None:
        """Start tasks a report batch leased, after firing what the orchestrator fired for that batch."""
        if not self.accepting:
            return
        lifecycle = self._lifecycle()
        settled = {r.task_id for r in batch if r.kind is not ReportKind.STARTED}
        if set(self._running) <= settled and lifecycle.state == WorkerState.BUSY:
            lifecycle.fire(WorkerTrigger.TASK_FINISHED)
        if lifecycle.state == WorkerState.IDLE:
            lifecycle.fire(WorkerTrigger.POLL)
            lifecycle.fire(WorkerTrigger.TASK_RECEIVED)
        self.start(tasks)

    def _fire(self, trigger: str) -> None:
        lifecycle = self._lifecycle()
        if lifecycle.can_fire(trigger):
            lifecycle.fire(trigger)

    async def wait_for_change(self, timeout_s: float) -> None:
        """Return when a task ends (a slot frees) or `timeout_s` passes."""
        self._changed.clear()
        try:
            await asyncio.wait_for(self._changed.wait(), timeout=timeout_s)
        except TimeoutError:
            pass

    async def settle(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for every running task to end; True if they all did."""
        pending = set(self._running.values())
        if not pending:
            return True
        _, still = await asyncio.wait(pending, timeout=timeout_s)
        return not still

    def cancel_all(self) -> None:
        """Forced stop: abandon every execution (their workspaces stay for ``worker_recovery``)."""
        for execution in self._running.values():
            execution.cancel()

    async def wait_cancelled(self) -> None:
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
