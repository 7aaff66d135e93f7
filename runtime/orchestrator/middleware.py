"""ASGI middleware: body size limit (413) and shutdown draining (503).

Both answer before the request reaches a route, so neither can change the database.
While draining (`orchestrator_shutdown` ``draining_http``) new work is refused, but the lease
reports, heartbeats and deregistrations of tasks already running still pass: without them the
"wait for running tasks" phase could never see a task finish.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


class GuardMiddleware:
    """Refuses oversize bodies (protocol.MAX_BODY_BYTES) and, while draining, new work."""

    def __init__(self, app: ASGIApp, orchestrator: Orchestrator, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.orch = orchestrator
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self.orch.draining and not self._allowed_while_draining(scope["method"], path):
            await _send_error(send, 503, None, "orchestrator is shutting down; retry against another instance",
                              [(b"retry-after", b"5")])
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > self.max_body
            except ValueError:
                await _send_error(send, 400, "Content-Length", "not an integer", [])
                return
            if too_big:
                await _send_error(send, 413, "body", f"body exceeds {self.max_body} bytes", [])
                return
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): buffer up to the limit, then replay.
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
                await _send_error(send, 413, "body", f"body exceeds {self.max_body} bytes", [])
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    def _allowed_while_draining(method: str, path: str) -> bool:
        if method == "DELETE" and path.startswith("/api/v1/workers/"):
            return True
        return path.startswith(DRAIN_ALLOWED_PREFIXES)
