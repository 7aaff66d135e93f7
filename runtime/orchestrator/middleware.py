"""ASGI middleware: draining (503), authentication (401/403), body size (413), strict JSON (400/422).

All four answer before the request reaches a route, so none can change the database, write a
trace line or publish an event. The order is the cost order: an unauthenticated request is
refused after reading one header — its body is never read, let alone parsed. An authenticated
body is read up to `protocol.MAX_BODY_BYTES` and checked by `runtime.orchestrator.ingress`, so a
value the store could not serve back (NaN, a lone surrogate) never reaches a route.

While draining (`orchestrator_shutdown` ``draining_http``) new work is refused, but the lease
reports, heartbeats and deregistrations of tasks already running still pass: without them the
"wait for running tasks" phase could never see a task finish.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.orchestrator.access import Ability, allows, refusal, required_ability
from runtime.orchestrator.auth import token_from
from runtime.orchestrator.ingress import check_json
from runtime.protocol import MAX_BODY_BYTES

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator

#: Requests still served while draining: lease reports, heartbeats, deregistration, probes.
DRAIN_ALLOWED_PREFIXES = ("/api/v1/tasks/started", "/api/v1/tasks/progress", "/api/v1/tasks/completed",
                          "/api/v1/tasks/failed", "/api/v1/tasks/interrupted", "/api/v1/tasks/reports",
                          "/api/v1/workers/heartbeat",
                          "/health/")


async def _send_error(
    send: Send, status: int, field: str | None, reason: str, headers: list[tuple[bytes, bytes]]
) -> None:
    body = json.dumps({"error": {"field": field, "reason": reason}}).encode()
    await send({
        "type": "http.response.start", "status": status,
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *headers],
    })
    await send({"type": "http.response.body", "body": body})


class _Refused(Exception):
    def __init__(self, status: int, field: str | None, reason: str,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.status, self.field, self.reason, self.headers = status, field, reason, headers or []


class GuardMiddleware:
    """Refuses, in order: new work while draining, missing credentials, oversize and non-strict JSON bodies."""

    def __init__(self, app: ASGIApp, orchestrator: Orchestrator, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.orch = orchestrator
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # WebSockets authenticate in runtime.orchestrator.ws_api
            await self.app(scope, receive, send)
            return
        try:
            ability = self._admit(scope)
            body = await self._read_body(scope, receive, strict_json=ability is not Ability.OPEN)
        except _Refused as refused:
            await _send_error(send, refused.status, refused.field, refused.reason, refused.headers)
            return
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _admit(self, scope: Scope) -> Ability:
        """Draining, then the credential: from the method, the path and one header."""
        method: str = scope["method"]
        path: str = scope["path"]
        if self.orch.draining and not self._allowed_while_draining(method, path):
            raise _Refused(503, None, "orchestrator is shutting down; retry against another instance",
                           [(b"retry-after", str(self.orch.policies.shutdown.draining_retry_after_s).encode())])
        ability = required_ability(method, path, metrics_open=not self.orch.settings.metrics_require_token)
        if ability is Ability.OPEN:
            return ability
        header = _header(scope, b"authorization")
        credential = self.orch.credentials.authenticate(token_from(header))
        if credential is None:
            raise _Refused(401, "Authorization", "missing bearer token" if not header else "invalid bearer token",
                           [(b"www-authenticate", b"Bearer")])
        if not allows(credential, ability):
            raise _Refused(403, "Authorization", refusal(credential, ability))
        scope["credential"] = credential
        return ability

    async def _read_body(self, scope: Scope, receive: Receive, *, strict_json: bool) -> bytes:
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_body
            except ValueError:
                raise _Refused(400, "Content-Length", "not an integer") from None
            if too_big:
                raise _Refused(413, "body", f"body exceeds {self.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _Refused(413, "body", f"body exceeds {self.max_body} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if body and strict_json:
            problem = check_json(body)
            if problem is not None:
                raise _Refused(problem.status, problem.field, problem.reason)
        return body

    @staticmethod
    def _allowed_while_draining(method: str, path: str) -> bool:
        if method == "DELETE" and path.startswith("/api/v1/workers/"):
            return True
        return path.startswith(DRAIN_ALLOWED_PREFIXES)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None
