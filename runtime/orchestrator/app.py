"""The FastAPI application (seed 4.1 ``setupMiddleware()``, ``registerRoutes()``).

OpenAPI is served at ``/openapi.json``; the API lives under ``/api/v1``; probes under
``/health``; the event stream at ``/ws``.
"""

from __future__ import annotations

from fastapi import FastAPI

from runtime.orchestrator import health, tasks_api, workers_api, workflows_api, ws_api
from runtime.orchestrator.http_errors import install_error_handlers
from runtime.orchestrator.middleware import GuardMiddleware
from runtime.orchestrator.orchestrator import Orchestrator


def create_app(orch: Orchestrator) -> FastAPI:
    app = FastAPI(
        title="orchestration-spec reference orchestrator",
        version="1",
        description="Reference runtime of the orchestration spec: workers, tasks, workflows and events. "
        "Authenticate with `Authorization: Bearer <token>`.",
    )
    app.state.orchestrator = orch
    install_error_handlers(app)
    app.add_middleware(GuardMiddleware, orchestrator=orch)
    for router in (health.router, workers_api.router, tasks_api.router, workflows_api.router, ws_api.router):
        app.include_router(router)
    return app
