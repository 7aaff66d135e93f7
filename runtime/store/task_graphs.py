"""Workflows of several tasks in the store (issue 12): submit a DAG, hand tasks their dependencies' results.

What is accepted and what each outcome releases, skips or cancels is
`spec.decisions.task_graph`'s decision; this module stores the graph (``tasks.key``,
``workflows.failure_policy``, the ``task_dependencies`` table) and reads it back. A one-task
workflow has no dependency rows and costs no query here but the leased tasks' lookup.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.errors import ConflictError
from runtime.graph_protocol import GRAPH_WORKFLOW_TYPE, WorkflowGraphRequest
from runtime.protocol import EventType
from runtime.store.changes import ChangeLog, task_component, workflow_component
from runtime.store.event_log import append_event
from runtime.store.models import TASK_DEPENDENCIES, TASK_REQUIREMENTS, TASKS, WORKFLOWS, WorkflowRow
from runtime.store.queue import WF_ACTIVE, get_workflow, workflow_tasks
from spec.decisions.scheduling import sort_key
from spec.decisions.task_graph import FailurePolicy, TaskGraph, stop, validate_graph
from spec.machines import TASK_LIFECYCLE, WORKFLOW_LIFECYCLE
from spec.machines.task_lifecycle import TaskState, TaskTrigger
from spec.machines.workflow_lifecycle import WorkflowState, WorkflowTrigger

WF_CANCELLED = WorkflowState.CANCELLED


def graph_of(request: WorkflowGraphRequest, max_tasks: int) -> TaskGraph:
    """`request`'s graph, or `spec.decisions.task_graph.TaskGraphError` naming the refused field."""
    return validate_graph([(t.id, t.depends_on) for t in request.tasks], max_tasks)


async def submit_graph(
    session: AsyncSession, changes: ChangeLog, request: WorkflowGraphRequest, graph: TaskGraph, now: float,
    aging_interval_s: float,
) -> tuple[str, list[str]]:
    """Store a multi-task workflow whose `graph` was validated (`graph_of`): ``(workflowId, taskIds in order)``.

    Tasks without dependencies are queued at once; the others fire ``await_dependencies``.
    """
    name = uuid.uuid4().hex
    workflow_id = f"wf-{name}"
    # Ids in request order: the workflow's tasks are listed by id (`runtime.store.queue.workflow_tasks`).
    ids = {t.id: f"t-{name}-{i:05d}" for i, t in enumerate(request.tasks)}
    priority = max(t.priority for t in request.tasks)
    status = changes.advance(WORKFLOW_LIFECYCLE.name, workflow_component(workflow_id), WORKFLOW_LIFECYCLE.initial,
                             WorkflowTrigger.SUBMIT, {"type": GRAPH_WORKFLOW_TYPE, "tasks": len(ids)})
    tasks, requirements, dependencies = [], [], []
    for task in request.tasks:
        task_id = ids[task.id]
        state = TASK_LIFECYCLE.initial
        if graph.initial_state(task.id) == TaskState.BLOCKED:
            state = changes.advance(TASK_LIFECYCLE.name, task_component(task_id), state,
                                    TaskTrigger.AWAIT_DEPENDENCIES, {"dependsOn": list(task.depends_on)})
        else:
            changes.tasks_queued += 1
        tasks.append({
            "id": task_id, "workflow_id": workflow_id, "key": task.id, "type": task.type, "payload": task.payload,
            "status": state, "priority": task.priority, "enqueued_at": now,
            "sort_key": sort_key(now, task.priority, aging_interval_s),
            "required_capabilities": list(task.required_capabilities), "fencing_token": 0, "attempt": 0,
            "progress": 0.0, "progress_step": "", "cancel_requested": False, "updated_at": now,
            "not_before": 0.0, "retry": task.retry.policy_fields() if task.retry is not None else None,
        })
        requirements += [{"task_id": task_id, "capability": c} for c in task.required_capabilities]
        dependencies += [{"task_id": task_id, "depends_on": ids[need], "workflow_id": workflow_id}
                         for need in task.depends_on]
    await session.execute(insert(WORKFLOWS), [{
        "id": workflow_id, "type": GRAPH_WORKFLOW_TYPE, "status": status, "priority": priority, "payload": {},
        "created_at": now, "updated_at": now, "failure_policy": request.failure_policy.value}])
    await session.execute(insert(TASKS), tasks)
    if requirements:
        await session.execute(insert(TASK_REQUIREMENTS), requirements)
    if dependencies:
        await session.execute(insert(TASK_DEPENDENCIES), dependencies)
    return workflow_id, [ids[t.id] for t in request.tasks]


# -- what a report's batch needs to decide ----------------------------------------------------

@dataclass
class StoredGraph:
    """One multi-task workflow as a report's batch needs it: its policy, edges, and failed tasks' errors."""

    policy: FailurePolicy
    #: Task id → the ids it depends on (tasks without dependencies are absent).
    edges: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, dict[str, Any]] = field(default_factory=dict)

    def graph(self, task_ids: Iterable[str]) -> TaskGraph:
        """The graph over `task_ids` (every task of the workflow)."""
        return TaskGraph.of({t: self.edges.get(t, []) for t in task_ids})


_FAILED = TASKS.alias("failed")
_GRAPH_POLICIES = (
    select(WORKFLOWS.c.id, WORKFLOWS.c.failure_policy, _FAILED.c.id, _FAILED.c.error)
    .outerjoin(_FAILED, (_FAILED.c.workflow_id == WORKFLOWS.c.id) & (_FAILED.c.status == bindparam("failed")))
    .where(WORKFLOWS.c.id.in_(bindparam("ids", expanding=True)))
)
_GRAPH_EDGES = select(TASK_DEPENDENCIES.c.workflow_id, TASK_DEPENDENCIES.c.task_id, TASK_DEPENDENCIES.c.depends_on
                      ).where(TASK_DEPENDENCIES.c.workflow_id.in_(bindparam("ids", expanding=True)))


async def stored_graphs(
    session: AsyncSession, workflow_ids: Sequence[str], connection: sqlite3.Connection | None
) -> dict[str, StoredGraph]:
    """The graphs of `workflow_ids` (multi-task workflows): two indexed queries for them all.

    On SQLite they run on `connection`, the session's own (`runtime.store.queue_rows`), as the
    batch's other statements do.
    """
    if not workflow_ids:
        return {}
    ids = list(workflow_ids)
    policies: Iterable[tuple[str, str, str | None, Any]]
    edges: Iterable[tuple[str, str, str]]
    if connection is not None:
        marks = ", ".join("?" * len(ids))
        policies = [(w, p, t, None if e is None else json.loads(e)) for w, p, t, e in connection.execute(
            "SELECT w.id, w.failure_policy, f.id, f.error FROM workflows AS w LEFT JOIN tasks AS f "
            f"ON f.workflow_id = w.id AND f.status = ? WHERE w.id IN ({marks})", [TaskState.FAILED, *ids])]
        edges = connection.execute("SELECT workflow_id, task_id, depends_on FROM task_dependencies "
                                   f"WHERE workflow_id IN ({marks})", ids).fetchall()
    else:
        policies = [tuple(r) for r in await session.execute(_GRAPH_POLICIES, {"ids": ids, "failed": TaskState.FAILED})]
        edges = [tuple(r) for r in await session.execute(_GRAPH_EDGES, {"ids": ids})]
    graphs: dict[str, StoredGraph] = {}
    for workflow_id, policy, failed_id, error in policies:
        stored = graphs.setdefault(workflow_id, StoredGraph(FailurePolicy(policy)))
        if failed_id is not None and error is not None:
            stored.errors[failed_id] = error
    for workflow_id, task_id, depends_on in edges:
        graphs[workflow_id].edges.setdefault(task_id, []).append(depends_on)
    return graphs


_DEPENDENCY = TASKS.alias("dependency")


async def dependency_keys(session: AsyncSession, workflow_id: str) -> dict[str, list[str]]:
    """Each task of `workflow_id` with dependencies → the keys it depends on (``GET /api/v1/workflows/{id}``)."""
    rows = await session.execute(
        select(TASK_DEPENDENCIES.c.task_id, _DEPENDENCY.c.key)
        .join(_DEPENDENCY, _DEPENDENCY.c.id == TASK_DEPENDENCIES.c.depends_on)
        .where(TASK_DEPENDENCIES.c.workflow_id == workflow_id)
        .order_by(TASK_DEPENDENCIES.c.task_id, TASK_DEPENDENCIES.c.depends_on))
    found: dict[str, list[str]] = {}
    for task_id, key in rows:
        found.setdefault(task_id, []).append(key)
    return found


# -- cancelling -------------------------------------------------------------------------------

#: Why a waiting task of a cancelled workflow ended (``TASK_CANCELLED`` payload).
CANCELLED_REASON = "its workflow was cancelled"


async def cancel_workflow(session: AsyncSession, changes: ChangeLog, workflow_id: str, now: float) -> WorkflowRow:
    """Cancel a pending or running workflow (``POST /api/v1/workflows/{id}/cancel``); idempotent.

    Its waiting tasks end cancelled at once; its leased tasks are flagged ``cancel_requested``,
    which their workers' heartbeat answers carry (``cancelTaskIds``), as at shutdown; when such a
    lease ends without an outcome its task ends cancelled too (`runtime.store.queue`). An unknown
    workflow is a 404, one that completed or failed a 409; one already cancelled is answered as is.
    """
    workflow = await get_workflow(session, workflow_id)
    if workflow.status == WF_CANCELLED:
        return workflow
    if workflow.status not in WF_ACTIVE:
        raise ConflictError(f"workflow {workflow_id} already {workflow.status}; only a pending or running workflow "
                            "can be cancelled", field="workflowId")
    tasks = await workflow_tasks(session, workflow_id)
    settlement = stop({t.id: t.status for t in tasks}, WorkflowTrigger.CANCEL)
    by_id = {t.id: t for t in tasks}
    for task_id in settlement.cancel:
        task = by_id[task_id]
        task.status = changes.advance(TASK_LIFECYCLE.name, task_component(task_id), task.status, TaskTrigger.CANCEL,
                                      {"reason": CANCELLED_REASON})
        task.updated_at = now
        await append_event(session, changes, EventType.TASK_CANCELLED, workflow_id, task_id, now,
                           {"reason": CANCELLED_REASON})
    for task_id in settlement.interrupt:
        by_id[task_id].cancel_requested = True
    workflow.status = changes.advance(WORKFLOW_LIFECYCLE.name, workflow_component(workflow_id), workflow.status,
                                      WorkflowTrigger.CANCEL, {"interrupted": len(settlement.interrupt)})
    workflow.updated_at = now
    await append_event(session, changes, EventType.WORKFLOW_CANCELLED, workflow_id, None, now, {})
    return workflow
