"""``GET /metrics`` (Prometheus) and ``GET /api/v1/alerts`` (issue 4 §2).

``/metrics`` answers without a token by default, as Prometheus scrapes usually do on a
private network; with ``metrics_require_token`` it asks for the same bearer token as the API.
Both refresh queue depth, workers and resource use from the store first, so a scrape never
reads figures older than the request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response

from runtime.monitoring.metrics import CONTENT_TYPE
from runtime.orchestrator.auth import Caller
from runtime.orchestrator.deps import error_responses

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator

router = APIRouter(tags=["monitoring"], responses=error_responses(401, 403, 503))


def _orch(request: Request) -> Orchestrator:
    orch: Orchestrator = request.app.state.orchestrator
    return orch


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {}}, "description": "Prometheus text exposition format."}},
)
async def metrics(request: Request) -> Response:
    orch = _orch(request)  # with metrics_require_token, GuardMiddleware asked for a credential already
    await orch.monitoring.refresh(orch.db)
    return Response(orch.monitoring.metrics.exposition(), media_type=CONTENT_TYPE)


@router.get("/api/v1/alerts")
async def alerts(request: Request, _credential: Caller) -> dict[str, Any]:
    """Alert series that are pending or firing (firing first), in Prometheus's alerts-API shape.

    ``data.alerts`` is what Prometheus's ``GET /api/v1/alerts`` answers for the same rules, so
    its clients (Grafana, amtool, scripts) read either; ``data.breakers`` adds every breaker's state.
    """
    orch = _orch(request)
    await orch.monitoring.refresh(orch.db)
    await orch.monitoring.evaluate()
    return {
        "status": "success",
        "data": {"alerts": orch.monitoring.prometheus_alerts(), "breakers": orch.monitoring.breakers.states()},
    }
