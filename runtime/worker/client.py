"""The worker's side of the HTTP API (seed 4.2/4.3 endpoints), as typed async calls.

Every non-2xx answer and every transport failure becomes one exception of
`runtime.worker.errors`, so the agent reasons about *what happened* (lease lost, orchestrator
unavailable, token refused) instead of status codes. The wire models are `runtime.protocol`'s.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from runtime.protocol import (
    HeartbeatRequest,
    HeartbeatResponse,
    LeaseReport,
    PollResponse,
    RegisterRequest,
    RegisterResponse,
    ReportBatchResponse,
    TaskAssignment,
    TaskCompleted,
    TaskFailed,
    TaskInterrupted,
    TaskProgress,
    TaskStarted,
    WorkflowCreated,
    WorkflowRequest,
)
from runtime.telemetry_protocol import EscalationAccepted, TelemetryAck, TelemetryBatch, WorkerEscalation
from runtime.worker.errors import (
    AuthenticationError,
    LeaseLostError,
    NotFoundError,
    OrchestratorError,
    OrchestratorUnavailableError,
    RateLimitedError,
    RequestRejectedError,
)
from spec.decisions.rate_limit import parse_retry_after

API = "/api/v1"
_M = TypeVar("_M", bound=BaseModel)

_REPORT_PATHS: dict[type[LeaseReport], str] = {
    TaskStarted: "started",
    TaskProgress: "progress",
    TaskCompleted: "completed",
    TaskFailed: "failed",
    TaskInterrupted: "interrupted",
}


def _error_detail(response: httpx.Response) -> tuple[str | None, str]:
    """``(field, reason)`` from ``{"error": {"field", "reason"}}`` or FastAPI's ``{"detail": ...}``."""
    try:
        body = response.json()
    except ValueError:
        return None, response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            field = error.get("field")
            return (str(field) if field is not None else None), str(error.get("reason", ""))
        detail = body.get("detail")
        if isinstance(detail, list) and detail and isinstance(detail[0], dict):
            loc = ".".join(str(p) for p in detail[0].get("loc", ()))
            return loc or None, str(detail[0].get("msg", ""))
        if detail is not None:
            return None, str(detail)
    return None, str(body)[:200]


def _retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` as seconds, read by the spec's one parser (`spec.decisions.rate_limit`)."""
    return parse_retry_after(value, datetime.now(UTC)) if value else None


def error_for_response(response: httpx.Response) -> OrchestratorError:
    """The exception that describes a non-2xx `response`."""
    field, reason = _error_detail(response)
    status = response.status_code
    where = f"{response.request.method} {response.request.url.path}"
    text = f"{where} -> {status}: {reason}" + (f" (field {field!r})" if field else "")
    if status in (401, 403):
        return AuthenticationError(text + "; check the worker's --token / --token-file", status=status, field=field)
    if status == 404:
        return NotFoundError(text, status=status, field=field)
    if status == 409:
        return LeaseLostError(text, status=status, field=field)
    if status == 429:
        retry_after = _retry_after_s(response.headers.get("Retry-After"))
        return RateLimitedError(text, status=status, field=field, retry_after_s=retry_after)
    if 400 <= status < 500:
        return RequestRejectedError(text, status=status, field=field)
    return OrchestratorUnavailableError(text, status=status, field=field)


class OrchestratorClient:
    """Async client for the orchestrator API; one per worker process (keeps connections alive)."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout_s: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        #: The configured credential (registers); after registration the worker's own token does the rest.
        self._credential = token
        self._worker_token: str | None = None
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s, transport=transport)

    def use_credential(self, token: str | None) -> None:
        """Replace the configured credential (re-read after a 401, seed 4.5 "request re-authentication")."""
        self._credential = token

    def use_worker_token(self, token: str | None) -> None:
        """Send `token` (the registration's ``workerToken``) on every request but registration."""
        self._worker_token = token

    @property
    def worker_token(self) -> str | None:
        return self._worker_token

    def _authorization(self, path: str, token: str | None) -> dict[str, str]:
        if token is None:
            registering = path == "/workers/register" or self._worker_token is None
            token = self._credential if registering else self._worker_token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> OrchestratorClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: BaseModel | None = None,
        content: str | None = None,
        params: dict[str, Any] | None = None,
        timeout_s: float | None = None,
        token: str | None = None,
    ) -> httpx.Response:
        if body is not None:
            content = body.model_dump_json(by_alias=True)
        headers = self._authorization(path, token)
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(
                method,
                API + path,
                content=content,
                headers=headers,
                params=params,
                timeout=timeout_s if timeout_s is not None else self.timeout_s,
            )
        except httpx.TransportError as exc:
            raise OrchestratorUnavailableError(
                f"{method} {self.base_url}{API}{path}: orchestrator unreachable ({type(exc).__name__}: {exc})"
            ) from exc
        if response.status_code >= 400:
            raise error_for_response(response)
        return response

    @staticmethod
    def _parse(model: type[_M], response: httpx.Response) -> _M:
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise OrchestratorUnavailableError(
                f"{response.request.method} {response.request.url.path}: unexpected response body "
                f"for {model.__name__}: {exc.errors()[0]['msg']}",
                status=response.status_code,
            ) from None

    # -- worker endpoints (seed 4.2) --------------------------------------------------------

    async def register(self, request: RegisterRequest) -> RegisterResponse:
        return self._parse(RegisterResponse, await self._request("POST", "/workers/register", body=request))

    async def heartbeat(self, request: HeartbeatRequest) -> HeartbeatResponse:
        return self._parse(HeartbeatResponse, await self._request("POST", "/workers/heartbeat", body=request))

    async def telemetry(self, batch: TelemetryBatch) -> TelemetryAck:
        """What the worker's external calls and breakers did (`runtime.worker.telemetry`)."""
        return self._parse(TelemetryAck, await self._request("POST", "/workers/telemetry", body=batch))

    async def escalate(self, escalation: WorkerEscalation) -> EscalationAccepted:
        """Hand an escalation to the orchestrator, which routes it (`runtime.worker.escalation`)."""
        return self._parse(EscalationAccepted, await self._request("POST", "/workers/escalations", body=escalation))

    async def deregister(self, worker_id: str) -> None:
        await self._request("DELETE", f"/workers/{worker_id}")

    async def poll(self, worker_id: str, *, wait_s: float = 0.0, max_tasks: int = 1) -> list[TaskAssignment]:
        """Lease up to `max_tasks` tasks; an empty list is the seed's 204 No Content."""
        params: dict[str, Any] = {"workerId": worker_id, "max": max_tasks}
        if wait_s > 0:
            params["wait"] = wait_s
        response = await self._request("GET", "/tasks/poll", params=params, timeout_s=self.timeout_s + wait_s)
        if response.status_code == 204 or not response.content:
            return []
        return self._parse(PollResponse, response).tasks

    async def report(self, report: LeaseReport, *, token: str | None = None) -> None:
        """POST a lease report to /tasks/started|progress|completed|failed|interrupted.

        `token`: another worker's token, for a lease a dead worker process left behind (recovery).
        """
        await self._request("POST", f"/tasks/{_REPORT_PATHS[type(report)]}", body=report, token=token)

    async def report_batch(
        self, encoded_reports: list[str], *, worker_id: str | None = None, lease_max: int = 0
    ) -> ReportBatchResponse:
        """POST /tasks/reports: reports already serialised (``BatchedReport`` JSON), then up to `lease_max` new leases.

        The reports are serialised by the caller, one at a time, so that a report whose content is
        not JSON is refused before it joins a batch instead of failing everyone else's.
        """
        lease = f',"workerId":{json.dumps(worker_id)},"leaseMax":{lease_max}' if lease_max and worker_id else ""
        content = '{"reports":[' + ",".join(encoded_reports) + "]" + lease + "}"
        response = await self._request("POST", "/tasks/reports", content=content)
        return self._parse(ReportBatchResponse, response)

    # -- client endpoints (seed 4.3), used by tools and tests -------------------------------

    async def submit_workflow(self, request: WorkflowRequest) -> WorkflowCreated:
        return self._parse(WorkflowCreated, await self._request("POST", "/workflows", body=request))

    async def get_task(self, task_id: str) -> dict[str, Any]:
        body = (await self._request("GET", f"/tasks/{task_id}")).json()
        if not isinstance(body, dict):
            raise OrchestratorUnavailableError(f"GET /tasks/{task_id}: expected a JSON object")
        return body
