"""Workflow endpoints (seed 4.3): submit and inspect."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.orchestrator.auth import Caller
from runtime.orchestrator.deps import Orch, error_responses
from runtime.orchestrator.views import workflow_view
from runtime.protocol import WorkflowCreated, WorkflowRequest, WorkflowView
from runtime.store.changes import ChangeLog
from runtime.store.queue import get_workflow, submit_workflow, workflow_tasks

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"],
                   responses=error_responses(400, 401, 403, 404, 413, 422, 503))


@router.post("", response_model=WorkflowCreated, status_code=201)
async def create(body: WorkflowRequest, orch: Orch, _credential: Caller) -> WorkflowCreated:
    """Accepted means committed: the 201 is sent after the workflow and its task are durable."""

    async def _work(session: AsyncSession, changes: ChangeLog) -> WorkflowCreated:
        aging = orch.policies.lease.aging_interval_s
        workflow, tasks = await submit_workflow(session, changes, body, orch.now(), aging)
        return WorkflowCreated(workflow_id=workflow.id, task_ids=[t.id for t in tasks])

    return await orch.transact(_work)


@router.get("/{workflowId}", response_model=WorkflowView)
async def workflow(
    orch: Orch, credential: Caller, workflow_id: Annotated[str, Path(alias="workflowId", min_length=1, max_length=128)]
) -> WorkflowView:
    async with orch.db.read() as session:
        row = await get_workflow(session, workflow_id)
        return workflow_view(row, await workflow_tasks(session, workflow_id), leases=credential.sees_leases)
