"""Every refusal as ``{"error": {"field": ..., "reason": ...}}`` (issue 3 "Bad input").

FastAPI's own validation answer is replaced so the body names the field in its wire spelling
(``capabilities.0``, ``fencingToken``, ``body`` for malformed JSON). Illegal lifecycle
transitions become 409. Refusals happen before any write or roll the transaction back, so the
database is unchanged and the server keeps serving.
"""

from __future__ import annotations

import logging
import math
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from runtime.errors import ApiError, DatabaseUnavailableError, TooManyRequestsError
from runtime.graph_protocol import SUBMISSION_TAGS
from runtime.protocol import ErrorBody, ErrorResponse
from spec.errors import IllegalTransitionError
from spec.machines import WORKER_LIFECYCLE, WORKFLOW_LIFECYCLE
from spec.machines.worker_lifecycle import WorkerTrigger
from spec.machines.workflow_lifecycle import WorkflowTrigger

log = logging.getLogger("runtime.orchestrator.http")

#: Location prefixes FastAPI puts before the field name.
_SECTIONS = ("body", "query", "path", "header")


def error_response(
    status: int, reason: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(field=field, reason=reason))
    return JSONResponse(body.model_dump(mode="json", by_alias=True), status_code=status, headers=headers)


def _describe(error: dict[str, Any]) -> tuple[int, str, str]:
    loc = [str(p) for p in error.get("loc", ())]
    section = loc[0] if loc and loc[0] in _SECTIONS else ""
    path = loc[1:] if section else loc
    if section == "body" and path and path[0] in SUBMISSION_TAGS:  # which shape of a workflow submission
        path = path[1:]
    if error.get("type") == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", "invalid JSON")
        return 400, "body", f"malformed JSON: {detail}"
    if section == "body" and not path and error.get("type") in ("missing", "model_attributes_type", "dict_type"):
        return 400, "body", "the body must be a JSON object"
    field = ".".join(path) or section or "body"
    return 422, field, str(error.get("msg", "invalid value"))


def _trace_rejection(request: Request, field: str) -> None:
    """Refused submissions are lifecycle outcomes too: ``capabilities_rejected`` and workflow ``reject``."""
    trace = request.app.state.orchestrator.trace
    if request.method != "POST":
        return
    if request.url.path == "/api/v1/workers/register" and field.startswith("capabilities"):
        component = f"worker:rejected-{uuid.uuid4().hex[:12]}"
        worker = WORKER_LIFECYCLE.bind(listener=trace.listener(component, {"field": field}))
        worker.fire(WorkerTrigger.REGISTER)
        worker.fire(WorkerTrigger.CAPABILITIES_REJECTED)
    elif request.url.path in ("/api/v1/workflows", "/api/v1/workflows:batch"):  # a refused batch: one reject
        component = f"workflow:rejected-{uuid.uuid4().hex[:12]}"
        WORKFLOW_LIFECYCLE.bind(listener=trace.listener(component, {"field": field})).fire(WorkflowTrigger.REJECT)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        status, field, reason = _describe(errors[0]) if errors else (422, "body", "invalid request")
        _trace_rejection(request, field)
        if len(errors) > 1:
            reason += f" (and {len(errors) - 1} more problem(s))"
        return error_response(status, reason, field)

    @app.exception_handler(ApiError)
    async def _api(_request: Request, exc: ApiError) -> JSONResponse:
        headers = None
        if isinstance(exc, (TooManyRequestsError, DatabaseUnavailableError)):
            headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
        return error_response(exc.status_code, exc.reason, exc.field, headers)

    @app.exception_handler(IllegalTransitionError)
    async def _illegal(_request: Request, exc: IllegalTransitionError) -> JSONResponse:
        return error_response(409, str(exc), "status")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), None, dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, f"internal error: {type(exc).__name__}; the request was rolled back")
