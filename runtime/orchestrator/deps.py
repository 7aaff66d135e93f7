"""Request-scoped access to the running orchestrator."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from runtime.orchestrator.orchestrator import Orchestrator
from runtime.protocol import ErrorResponse


def get_orchestrator(request: Request) -> Orchestrator:
    orch: Orchestrator = request.app.state.orchestrator
    return orch


Orch = Annotated[Orchestrator, Depends(get_orchestrator)]


def error_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI entries for the error bodies a router can answer with."""
    return {code: {"model": ErrorResponse} for code in codes}
