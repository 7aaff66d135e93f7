"""Startup health checks and the ``/health/live`` and ``/health/ready`` probes (seed 4.1).

``live`` answers as long as the process serves HTTP. ``ready`` is 200 only once startup
reached ``running`` or ``degraded``, no shutdown has begun and the last write did not fail
for a database fault; it lists each service check, and the fault and its reason (issue 14). Its
``status`` is ``degraded``, with the reason, while a service's restart budget is exhausted or the
health checks that keep running after startup (`runtime.orchestrator.health_watch`) find a check
or an external service failing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from runtime.store.queue import count_queued

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator

Check = Callable[[], Awaitable[bool]]


class HealthChecker:
    """Named checks over the services the startup machine initialised (seed ``healthCheck()``)."""

    def __init__(self, orch: Orchestrator) -> None:
        self.orch = orch
        self.checks: dict[str, Check] = {}

    def register_default_checks(self) -> None:
        orch = self.orch

        async def database() -> bool:
            await orch.db.ping()
            return orch.db.health.writable

        async def task_queue() -> bool:
            async with orch.db.read() as session:
                await count_queued(session)
            return not orch.dispatcher.paused

        async def worker_pool() -> bool:
            return orch.monitor_task is not None and not orch.monitor_task.done()

        async def http_server() -> bool:
            return orch.server is not None and orch.server.started and not orch.server.should_exit

        async def websocket_server() -> bool:
            return orch.hub.accepting

        self.checks = {
            "database": database,
            "taskQueue": task_queue,
            "workerPool": worker_pool,
            "httpServer": http_server,
            "webSocketServer": websocket_server,
        }

    async def run_checks(self) -> dict[str, bool]:
        names = list(self.checks)
        results = await asyncio.gather(*(self.checks[n]() for n in names), return_exceptions=True)
        return {n: r is True for n, r in zip(names, results, strict=True)}


router = APIRouter(tags=["health"])


def _orch(request: Request) -> Orchestrator:
    orch: Orchestrator = request.app.state.orchestrator
    return orch


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "live"}


@router.get("/health/ready", responses={503: {"description": "Starting, degraded checks or shutting down."}})
async def ready(request: Request) -> JSONResponse:
    orch = _orch(request)
    checks = await orch.health.run_checks()
    body: dict[str, Any] = {
        "status": "ready" if orch.ready else "unavailable",
        "startup": orch.startup.state if orch.startup else None,
        "shutdown": orch.shutdown.state if orch.shutdown else None,
        "checks": checks,
        "database": orch.db.health.describe(orch.db.clock()),
        "services": orch.supervisor.describe(),
        "leadership": orch.leadership.describe(),
        "consistency": {"checkedAt": orch.consistency_checked_at,
                        "findings": [{"invariant": f.invariant.value, "detail": f.detail}
                                     for f in orch.consistency_findings]},
    }
    verdict = orch.health_watch.verdict
    # A service check this request ran and passed is fresher than the last round's failure of it.
    failing = {name: why for name, why in verdict.failing.items() if checks.get(name) is not True}
    body["monitoring"] = {"checkedAt": verdict.at or None, "failing": failing}
    reasons = []
    if orch.supervisor.degraded:
        reasons.append(f"restart budget exhausted: {', '.join(orch.supervisor.degraded)}")
    if failing:
        reasons.append("health checks failing: " + "; ".join(f"{n}: {why}" for n, why in sorted(failing.items())))
    if orch.ready and reasons:
        body["status"] = "degraded"
        body["reason"] = "; ".join(reasons)
    if not orch.db.health.writable:
        body["reason"] = orch.db.health.report(orch.db.clock()).reason
    return JSONResponse(body, status_code=200 if orch.ready else 503)
