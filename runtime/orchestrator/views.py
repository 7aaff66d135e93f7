"""Store rows → wire models for the API's answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from runtime.protocol import TaskView, WorkerView, WorkflowView
from runtime.store.models import TaskRow, WorkerRow, WorkflowRow
from runtime.store.registry import TypeRouting
from spec.decisions.task_graph import FailurePolicy
from spec.machines import TASK_LIFECYCLE


def waiting_for(task: TaskRow, routing: TypeRouting | None, now: float) -> str | None:
    """Why a queued task is not leased yet: its retry's backoff, or no live worker for its type."""
    if task.status != TASK_LIFECYCLE.initial:
        return None
    if (task.not_before or 0.0) > now:
        return f"retry backoff until {task.not_before:.3f} (attempt {task.attempt + 1} next)"
    return routing.waiting_for(task.type) if routing is not None else None


def task_view(task: TaskRow, depends_on: Iterable[str] = (), *, leases: bool, routing: TypeRouting | None = None,
              now: float = 0.0) -> TaskView:
    """`leases`: show the lease holder and fencing token (admin and worker credentials; never clients).

    `routing` (the live workers' task types) and `now` say what a queued task waits for;
    `depends_on`: the keys of the tasks it depends on (a multi-task workflow's view passes them).
    """
    return TaskView(
        task_id=task.id, workflow_id=task.workflow_id, type=task.type, status=task.status, priority=task.priority,
        required_capabilities=list(task.required_capabilities), lease_worker=task.lease_worker if leases else None,
        lease_expires_at=task.lease_expires_at, fencing_token=task.fencing_token if leases else None,
        attempt=task.attempt,
        progress=task.progress, progress_step=task.progress_step, result=task.result, error=task.error,
        enqueued_at=task.enqueued_at, updated_at=task.updated_at, saved_state=task.saved_state or {},
        not_before=task.not_before or None, waiting_for=waiting_for(task, routing, now),
        key=task.key, depends_on=list(depends_on),
    )


def workflow_view(
    workflow: WorkflowRow, tasks: Iterable[TaskRow], depends_on: Mapping[str, Iterable[str]] | None = None, *,
    leases: bool,
) -> WorkflowView:
    """`depends_on`: task id → the keys it depends on (`runtime.store.task_graphs.dependency_keys`)."""
    depends_on = depends_on or {}
    return WorkflowView(
        workflow_id=workflow.id, type=workflow.type, status=workflow.status, priority=workflow.priority,
        payload=workflow.payload, created_at=workflow.created_at, updated_at=workflow.updated_at,
        tasks=[task_view(t, depends_on.get(t.id, ()), leases=leases) for t in tasks],
        failure_policy=FailurePolicy(workflow.failure_policy),
    )


def worker_view(worker: WorkerRow) -> WorkerView:
    return WorkerView(
        worker_id=worker.id, status=worker.status, capabilities=list(worker.capabilities), hostname=worker.hostname,
        max_concurrency=worker.max_concurrency, running=worker.running, health=worker.health,
        last_heartbeat=worker.last_heartbeat, registered_at=worker.registered_at,
        task_types=None if worker.task_types is None else list(worker.task_types),
    )
