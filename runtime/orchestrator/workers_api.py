"""Worker endpoints (seed 4.2): register, heartbeat, deregister, list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.errors import InvalidInputError
from runtime.orchestrator.auth import require_token
from runtime.orchestrator.deps import Orch, error_responses
from runtime.orchestrator.views import worker_view
from runtime.protocol import (
    HeartbeatRequest,
    HeartbeatResponse,
    RegisterRequest,
    RegisterResponse,
    WorkerList,
)
from runtime.store.changes import ChangeLog
from runtime.store.registry import HeartbeatOutcome, deregister_worker, list_workers, record_heartbeat, register_worker
from spec.machines import WORKER_LIFECYCLE

ERRORS = error_responses(400, 401, 404, 409, 413, 422, 503)
router = APIRouter(prefix="/api/v1/workers", tags=["workers"], dependencies=[Depends(require_token)], responses=ERRORS)
WORKER_ID = Path(min_length=1, max_length=128, alias="workerId")


@router.post("/register", response_model=RegisterResponse)
async def register(body: RegisterRequest, orch: Orch) -> RegisterResponse:
    async def _work(session: AsyncSession, changes: ChangeLog) -> str:
        return (await register_worker(session, changes, body, orch.now())).id

    worker_id = await orch.transact(_work)
    heartbeat = orch.policies.heartbeat
    return RegisterResponse(worker_id=worker_id, heartbeat_interval_s=heartbeat.interval_s,
                            heartbeat_timeout_s=heartbeat.timeout_s, lease_ttl_s=orch.policies.lease.lease_ttl_s)


@router.post("/heartbeat", response_model=HeartbeatResponse)
async def heartbeat(body: HeartbeatRequest, orch: Orch) -> HeartbeatResponse:
    async def _work(session: AsyncSession, changes: ChangeLog) -> HeartbeatOutcome:
        return await record_heartbeat(session, changes, body, orch.now(), orch.policies.lease.lease_ttl_s)

    outcome = await orch.transact(_work)
    return HeartbeatResponse(status=outcome.status, cancel_task_ids=outcome.cancel_task_ids,
                             shutting_down=orch.shutting_down)


@router.delete("/{workerId}", status_code=204, response_class=Response)
async def deregister(orch: Orch, worker_id: Annotated[str, WORKER_ID]) -> Response:
    async def _work(session: AsyncSession, changes: ChangeLog) -> None:
        await deregister_worker(session, changes, worker_id, orch.now())

    await orch.transact(_work)
    return Response(status_code=204)


@router.get("", response_model=WorkerList)
async def workers(
    orch: Orch,
    status: Annotated[str | None, Query(description="Filter by worker_lifecycle state.")] = None,
) -> WorkerList:
    if status is not None and status not in WORKER_LIFECYCLE.state_names:
        raise InvalidInputError(f"unknown worker state {status!r}; states: {', '.join(WORKER_LIFECYCLE.state_names)}",
                                field="status")
    async with orch.db.read() as session:
        rows = await list_workers(session, status)
    return WorkerList(workers=[worker_view(r) for r in rows])
