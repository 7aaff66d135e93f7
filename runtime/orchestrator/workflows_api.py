"""Workflow endpoints (seed 4.3): submit one or a batch, inspect, cancel.

``POST /api/v1/workflows`` takes one task (`runtime.protocol.WorkflowRequest`) or a DAG of tasks
(`runtime.graph_protocol.WorkflowGraphRequest`, told apart by its ``tasks``); a refused graph is a 422
naming the task's field (``tasks.1.dependsOn``), as any invalid body is, and nothing is stored.

``POST /api/v1/workflows:batch`` takes up to `runtime.protocol.MAX_BATCH_WORKFLOWS` workflows, each exactly as
``POST /api/v1/workflows`` takes one task, and stores them all in one transaction or none: an invalid item
refuses the batch with 422 naming it (``workflows.3.payload``). The whole batch wakes the
long-polling workers once, as any one transaction does (`Orchestrator.announce`).

``POST /api/v1/workflows/{workflowId}/cancel`` cancels a pending or running workflow
(`runtime.store.task_graphs.cancel_workflow`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.exceptions import RequestValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.graph_protocol import WorkflowGraphRequest, WorkflowSubmission
from runtime.orchestrator.auth import Caller
from runtime.orchestrator.deps import Orch, error_responses
from runtime.orchestrator.views import workflow_view
from runtime.protocol import WorkflowBatchCreated, WorkflowBatchRequest, WorkflowCreated, WorkflowView
from runtime.store.changes import ChangeLog
from runtime.store.queue import get_workflow, submit_workflows, workflow_tasks
from runtime.store.task_graphs import cancel_workflow, dependency_keys, graph_of, submit_graph
from spec.decisions.task_graph import TaskGraph, TaskGraphError

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"],
                   responses=error_responses(400, 401, 403, 404, 413, 422, 503))

WorkflowId = Annotated[str, Path(alias="workflowId", min_length=1, max_length=128)]


def _checked_graph(body: WorkflowGraphRequest, max_tasks: int) -> TaskGraph:
    """The body's graph; a refused one answers as any invalid body does (422 naming the field, traced reject)."""
    try:
        return graph_of(body, max_tasks)
    except TaskGraphError as exc:
        raise RequestValidationError([{"type": "value_error", "loc": ("body", *exc.field.split(".")),
                                       "msg": exc.reason, "input": None}]) from None


@router.post("", response_model=WorkflowCreated, status_code=201)
async def create(body: WorkflowSubmission, orch: Orch, _credential: Caller) -> WorkflowCreated:
    """Accepted means committed: the 201 is sent after the workflow and its tasks are durable."""
    graph = _checked_graph(body, orch.policies.workflow.max_tasks) if isinstance(body, WorkflowGraphRequest) \
        else None

    async def _work(session: AsyncSession, changes: ChangeLog) -> WorkflowCreated:
        aging = orch.policies.lease.aging_interval_s
        if isinstance(body, WorkflowGraphRequest):
            assert graph is not None
            workflow_id, task_ids = await submit_graph(session, changes, body, graph, orch.now(), aging)
            return WorkflowCreated(workflow_id=workflow_id, task_ids=task_ids)
        ((workflow_id, task_id),) = await submit_workflows(session, changes, [body], orch.now(), aging)
        return WorkflowCreated(workflow_id=workflow_id, task_ids=[task_id])

    return await orch.transact(_work)


@router.post(":batch", response_model=WorkflowBatchCreated, status_code=201)
async def create_batch(body: WorkflowBatchRequest, orch: Orch, _credential: Caller) -> WorkflowBatchCreated:
    """Submit many workflows in one request and one transaction: all are stored, or none (any refusal).

    The answer lists the created ids in the order of the request, after the commit.
    """

    async def _work(session: AsyncSession, changes: ChangeLog) -> WorkflowBatchCreated:
        created = await submit_workflows(session, changes, body.workflows, orch.now(),
                                         orch.policies.lease.aging_interval_s)
        return WorkflowBatchCreated(workflows=[WorkflowCreated(workflow_id=w, task_ids=[t]) for w, t in created])

    return await orch.transact(_work)


@router.get("/{workflowId}", response_model=WorkflowView)
async def workflow(orch: Orch, credential: Caller, workflow_id: WorkflowId) -> WorkflowView:
    """The workflow, each of its tasks' state and, for a multi-task workflow, each task's ``key`` and ``dependsOn``."""
    async with orch.db.read() as session:
        row = await get_workflow(session, workflow_id)
        tasks = await workflow_tasks(session, workflow_id)
        depends_on = await dependency_keys(session, workflow_id) if len(tasks) > 1 else {}
        return workflow_view(row, tasks, depends_on, leases=credential.sees_leases)


@router.post("/{workflowId}/cancel", response_model=WorkflowView, responses=error_responses(409))
async def cancel(orch: Orch, credential: Caller, workflow_id: WorkflowId) -> WorkflowView:
    """Cancel a pending or running workflow: waiting tasks end cancelled at once, running ones when their
    workers stop them (heartbeat ``cancelTaskIds``). Answers the workflow as it is after the commit.

    Cancelling a cancelled workflow answers it again (idempotent); a completed or failed one is a 409.
    """

    async def _work(session: AsyncSession, changes: ChangeLog) -> WorkflowView:
        row = await cancel_workflow(session, changes, workflow_id, orch.now())
        tasks = await workflow_tasks(session, workflow_id)
        depends_on = await dependency_keys(session, workflow_id) if len(tasks) > 1 else {}
        return workflow_view(row, tasks, depends_on, leases=credential.sees_leases)

    return await orch.transact(_work)
