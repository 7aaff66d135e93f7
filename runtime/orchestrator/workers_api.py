"""Worker endpoints (seed 4.2): register, heartbeat, telemetry, deregister, list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.errors import InvalidInputError
from runtime.orchestrator.access import require_worker
from runtime.orchestrator.auth import Caller
from runtime.orchestrator.credentials import new_worker_token, token_digest
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
from runtime.store.registry import (
    HeartbeatOutcome,
    Registration,
    deregister_worker,
    list_workers,
    record_heartbeat,
    register_worker,
)
from runtime.telemetry_protocol import EscalationAccepted, TelemetryAck, TelemetryBatch, WorkerEscalation
from spec.machines import WORKER_LIFECYCLE

ERRORS = error_responses(400, 401, 403, 404, 409, 413, 422, 503)
router = APIRouter(prefix="/api/v1/workers", tags=["workers"], responses=ERRORS)
WORKER_ID = Path(min_length=1, max_length=128, alias="workerId")


@router.post("/register", response_model=RegisterResponse)
async def register(body: RegisterRequest, orch: Orch, credential: Caller) -> RegisterResponse:
    """Register (a worker or admin credential); the answer's ``workerToken`` is the worker's from now on."""
    token = new_worker_token()
    digest = token_digest(token)
    heartbeat = orch.policies.heartbeat
    registration = Registration(body, digest, credential.may_act_for, heartbeat.timeout_s)

    async def _work(session: AsyncSession, changes: ChangeLog) -> str:
        return (await register_worker(session, changes, registration, orch.now())).id

    worker_id = await orch.transact(_work)
    orch.credentials.grant(worker_id, digest)
    return RegisterResponse(worker_id=worker_id, worker_token=token, heartbeat_interval_s=heartbeat.interval_s,
                            heartbeat_timeout_s=heartbeat.timeout_s, lease_ttl_s=orch.policies.lease.lease_ttl_s)


@router.post("/heartbeat", response_model=HeartbeatResponse)
async def heartbeat(body: HeartbeatRequest, orch: Orch, credential: Caller) -> HeartbeatResponse:
    require_worker(credential, body.worker_id)

    async def _work(session: AsyncSession, changes: ChangeLog) -> HeartbeatOutcome:
        return await record_heartbeat(session, changes, body, orch.now(), orch.policies.lease.lease_ttl_s)

    outcome = await orch.transact(_work)
    return HeartbeatResponse(status=outcome.status, cancel_task_ids=outcome.cancel_task_ids,
                             shutting_down=orch.shutting_down)


@router.post("/telemetry", response_model=TelemetryAck)
async def telemetry(body: TelemetryBatch, orch: Orch, credential: Caller) -> TelemetryAck:
    """What the worker's external calls and circuit breakers did since its last batch (issue 13).

    Separate from the heartbeat so that a refused batch (422 naming the field; nothing of it is
    recorded) never touches the heartbeat's lease renewal (`runtime.worker.telemetry`).
    """
    require_worker(credential, body.worker_id)
    return orch.monitoring.fleet.record_batch(body)


@router.post("/escalations", response_model=EscalationAccepted, status_code=202)
async def escalate(body: WorkerEscalation, orch: Orch, credential: Caller,
                   background: BackgroundTasks) -> EscalationAccepted:
    """A worker's escalation, routed by the orchestrator's ``escalation`` settings after the answer."""
    require_worker(credential, body.worker_id)
    escalator = orch.monitoring.escalator
    action = escalator.action(body.level)

    async def deliver() -> None:
        await escalator.escalate(body.level, body.reason, source=f"worker {body.worker_id}: {body.source}",
                                 details={**body.details, "workerId": body.worker_id})

    background.add_task(deliver)
    return EscalationAccepted(level=body.level, action=action)


@router.delete("/{workerId}", status_code=204, response_class=Response)
async def deregister(orch: Orch, credential: Caller, worker_id: Annotated[str, WORKER_ID]) -> Response:
    """A worker leaving (its own token), or an operator removing one (admin)."""
    require_worker(credential, worker_id)

    async def _work(session: AsyncSession, changes: ChangeLog) -> None:
        await deregister_worker(session, changes, worker_id, orch.now())

    await orch.transact(_work)
    orch.credentials.revoke(worker_id)
    orch.monitoring.fleet.forget(worker_id)  # its breakers no longer count for the fleet
    return Response(status_code=204)


@router.get("", response_model=WorkerList)
async def workers(
    orch: Orch,
    _credential: Caller,
    status: Annotated[str | None, Query(description="Filter by worker_lifecycle state.",
                                        pattern=f"^({'|'.join(WORKER_LIFECYCLE.state_names)})$")] = None,
) -> WorkerList:
    if status is not None and status not in WORKER_LIFECYCLE.state_names:
        raise InvalidInputError(f"unknown worker state {status!r}; states: {', '.join(WORKER_LIFECYCLE.state_names)}",
                                field="status")
    async with orch.db.read() as session:
        rows = await list_workers(session, status)
    return WorkerList(workers=[worker_view(r) for r in rows])
