"""Task metrics from the store's committed transitions and events (issue 13).

Durations run from ``TASK_STARTED`` to completion or failure; every ending counts by the
``task_lifecycle`` trigger that ended it, and failures by their failure code; queue wait runs
from submission (or re-queueing) to start; a re-queue counts by its trigger, and as a lease
expiry when the lease ran out. Memory is bounded by the work in flight: each entry goes when
its task starts or ends, or its workflow ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from runtime.monitoring.metrics import OrchestratorMetrics
from runtime.protocol import Event, EventType
from runtime.store.changes import ChangeLog, task_component, workflow_component
from spec.machines import TASK_LIFECYCLE, WORKFLOW_LIFECYCLE
from spec.machines.task_lifecycle import TaskTrigger

log = logging.getLogger("runtime.monitoring")

#: Task outcomes without a known type (an orchestrator restarted while the task ran).
UNKNOWN_TYPE = "unknown"
#: Events after which a workflow's bookkeeping is dropped: it settled.
_WORKFLOW_SETTLED = frozenset({EventType.WORKFLOW_COMPLETED, EventType.WORKFLOW_FAILED, EventType.WORKFLOW_CANCELLED})
#: The ``lease_lost`` reason of a lease that ran out without renewal (``runtime.store.queue``).
LEASE_EXPIRED_REASON = "lease expired"


class TaskObserver:
    """Turns one orchestrator's committed task changes into its task metrics."""

    def __init__(self, metrics: OrchestratorMetrics, wall_clock: Callable[[], float]) -> None:
        self.metrics = metrics
        #: The store's time base (``Orchestrator.now``): submission times are taken from it.
        self.wall_clock = wall_clock
        self._started: dict[str, tuple[float, str | None]] = {}
        self._workflow_types: dict[str, str] = {}
        self._submitted: dict[str, float] = {}
        self._requeued: dict[str, float] = {}

    def observe_changes(self, changes: ChangeLog, events: list[Event]) -> None:
        """Task metrics from a committed transaction's transitions and events.

        Durations run from start to completion or failure; the ``outcome`` label is the
        `task_lifecycle` trigger that ended the task (``complete``, ``fail``, ``time_out``,
        ``allocation_failed``). Queue wait runs from submission (or re-queueing) to start. A
        re-queue counts by its trigger, and as a lease expiry when the lease ran out.
        """
        outcomes: dict[str, str] = {}
        requeue_triggers: dict[str, str] = {}
        for change in changes.transitions:
            record = change.record
            if record.machine == WORKFLOW_LIFECYCLE.name and record.source == WORKFLOW_LIFECYCLE.initial:
                task_type = change.data.get("type")
                workflow_id = change.component.removeprefix(workflow_component(""))
                if isinstance(task_type, str):
                    self._workflow_types[workflow_id] = task_type
                self._submitted[workflow_id] = self.wall_clock()
            elif record.machine == TASK_LIFECYCLE.name:
                # The trigger, not the state: ``time_out`` and ``fail`` both end in the failed state.
                outcomes[change.component] = record.trigger
                if record.dest == TASK_LIFECYCLE.initial:
                    requeue_triggers[change.component] = record.trigger
        for event in events:
            if event.task_id is None:
                if event.type in _WORKFLOW_SETTLED:
                    self._forget_workflow(event.workflow_id)
                continue
            if event.type is EventType.TASK_STARTED:
                worker = event.payload.get("workerId")
                self._started[event.task_id] = (event.time, worker if isinstance(worker, str) else None)
                self._record_wait(event)
            elif event.type in (EventType.TASK_COMPLETED, EventType.TASK_FAILED):
                self._finish_task(event, outcomes.get(task_component(event.task_id), event.type.value.lower()))
            elif event.type is EventType.TASK_REQUEUED:
                self._started.pop(event.task_id, None)
                self._requeued[event.task_id] = event.time
                reason = event.payload.get("reason")
                trigger = requeue_triggers.get(task_component(event.task_id), TaskTrigger.REQUEUE)
                self.metrics.record_requeue(trigger, lease_expired=reason == LEASE_EXPIRED_REASON)
            elif event.type is EventType.TASK_CANCELLED:
                self._started.pop(event.task_id, None)
            if event.type in _WORKFLOW_SETTLED:
                self._forget_workflow(event.workflow_id)

    def _forget_workflow(self, workflow_id: str) -> None:
        self._workflow_types.pop(workflow_id, None)
        self._submitted.pop(workflow_id, None)

    def _record_wait(self, event: Event) -> None:
        assert event.task_id is not None
        queued = self._requeued.pop(event.task_id, None)
        if queued is None:
            queued = self._submitted.pop(event.workflow_id, None)
        if queued is not None:  # submitted before this process started: its wait is unknown
            self.metrics.record_queue_wait(self._workflow_types.get(event.workflow_id, UNKNOWN_TYPE),
                                           event.time - queued)

    def _finish_task(self, event: Event, outcome: str) -> None:
        assert event.task_id is not None
        self._requeued.pop(event.task_id, None)
        task_type = self._workflow_types.get(event.workflow_id, UNKNOWN_TYPE)
        error = event.payload.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        self.metrics.record_task_end(task_type, outcome, code if isinstance(code, str) else None)
        start = self._started.pop(event.task_id, None)
        if start is None:
            return  # started before this process: its duration is unknown
        began, worker_id = start
        duration = max(0.0, event.time - began)
        self.metrics.record_task(task_type, outcome, duration)
        log.info(
            "task %s (%s) ended by %s after %.3f s", event.task_id, task_type, outcome, duration,
            extra={"workflowId": event.workflow_id, "taskId": event.task_id, "workerId": worker_id,
                   "taskType": task_type, "outcome": outcome, "durationSeconds": round(duration, 6)},
        )


__all__ = ["LEASE_EXPIRED_REASON", "UNKNOWN_TYPE", "TaskObserver"]
