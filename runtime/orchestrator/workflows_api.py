"""Workflow endpoints (seed 4.3): submit one or a batch, and inspect.

``POST /api/v1/workflows:batch`` takes up to `runtime.protocol.MAX_BATCH_WORKFLOWS` workflows, each exactly as
``POST /api/v1/workflows`` does, and stores them all in one transaction or none: an invalid item
refuses the batch with 422 naming it (``workflows.3.payload``). The whole batch wakes the
long-polling workers once, as any one transaction does (`Orchestrator.announce`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.orchestrator.auth import Caller
from runtime.orchestrator.deps import Orch, error_responses
from runtime.orchestrator.views import workflow_view
from runtime.protocol import (
    WorkflowBatchCreated,
    WorkflowBatchRequest,
    WorkflowCreated,
    WorkflowRequest,
    WorkflowView,
)
from runtime.store.changes import ChangeLog
from runtime.store.queue import get_workflow, submit_workflows, workflow_tasks

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"],
                   responses=error_responses(400, 401, 403, 404, 413, 422, 503))


@router.post("", response_model=WorkflowCreated, status_code=201)
async def create(body: WorkflowRequest, orch: Orch, _credential: Caller) -> WorkflowCreated:
    """Accepted means committed: the 201 is sent after the workflow and its task are durable."""

    async def _work(session: AsyncSession, changes: ChangeLog) -> WorkflowCreated:
        ((workflow_id, task_id),) = await submit_workflows(session, changes, [body], orch.now(),
                                                           orch.policies.lease.aging_interval_s)
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
async def workflow(
    orch: Orch, credential: Caller, workflow_id: Annotated[str, Path(alias="workflowId", min_length=1, max_length=128)]
) -> WorkflowView:
    async with orch.db.read() as session:
        row = await get_workflow(session, workflow_id)
        return workflow_view(row, await workflow_tasks(session, workflow_id), leases=credential.sees_leases)
