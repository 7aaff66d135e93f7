"""The FastAPI application (seed 4.1 ``setupMiddleware()``, ``registerRoutes()``).

OpenAPI is served at ``/openapi.json`` (the event stream's AsyncAPI document at ``/asyncapi.json``);
the API lives under ``/api/v1``; probes under ``/health``; the event stream at ``/ws``; Prometheus
metrics at ``/metrics`` and firing alerts at ``/api/v1/alerts``. Every request binds its
workflowId/taskId/workerId to its log lines.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI

from runtime.monitoring import api as monitoring_api
from runtime.monitoring.http_metrics import RequestMetricsMiddleware
from runtime.monitoring.request_ids import bind_request_ids
from runtime.orchestrator import asyncapi, config_api, health, tasks_api, workers_api, workflows_api, ws_api
from runtime.orchestrator.http_errors import install_error_handlers
from runtime.orchestrator.middleware import GuardMiddleware
from runtime.orchestrator.orchestrator import Orchestrator


def create_app(orch: Orchestrator) -> FastAPI:
    app = FastAPI(
        title="orchestration-spec reference orchestrator",
        version="1",
        description="Reference runtime of the orchestration spec: workers, tasks, workflows and events. "
        "Authenticate with `Authorization: Bearer <token>`.",
        dependencies=[Depends(bind_request_ids)],
    )
    app.state.orchestrator = orch
    install_error_handlers(app)
    app.add_middleware(GuardMiddleware, orchestrator=orch)
    # Added last, so outermost: it also times and counts the answers the guard gives.
    app.add_middleware(RequestMetricsMiddleware, metrics=orch.monitoring.metrics)
    for router in (health.router, workers_api.router, tasks_api.router, workflows_api.router, ws_api.router,
                   monitoring_api.router, asyncapi.router, config_api.router):
        app.include_router(router)
    return app
