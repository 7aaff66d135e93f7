"""Request metrics and the access log of the orchestrator's HTTP API (issue 4 §2).

Pure ASGI, so it adds no task or buffering to the request path. The route label is the
matched route's template (``/api/v1/workers/{workerId}``), never the raw path: raw paths carry
ids, and a label per id would grow the registry without bound.
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from runtime.monitoring.metrics import OrchestratorMetrics

log = logging.getLogger("runtime.orchestrator.http")

#: Route label of requests no route matched (404s, and answers given before routing: 413, 503).
UNMATCHED = "unmatched"


class RequestMetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status."""

    def __init__(self, app: ASGIApp, metrics: OrchestratorMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", None) or UNMATCHED
            method: str = scope["method"]
            self.metrics.record_http(method, route, status, elapsed)
            if log.isEnabledFor(logging.DEBUG):
                # Runs in the request's context, so the ids bound by the route's handler are on the line.
                log.debug("%s %s %d in %.1f ms", method, scope["path"], status, elapsed * 1000,
                          extra={"route": route, "status": status, "durationSeconds": round(elapsed, 6)})
