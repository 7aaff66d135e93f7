"""Fixtures: a real orchestrator in the test's event loop (127.0.0.1, port 0), with client and worker tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from runtime.config import OrchestratorSettings
from runtime.orchestrator import Orchestrator
from tests.runtime.orchestrator.orch_helpers import AUTH, make_settings

CLIENT_TOKEN = "client-lib-token"
WORKER_TOKEN = "client-lib-worker-token"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> OrchestratorSettings:
    return make_settings(tmp_path).model_copy(update={"client_tokens": (CLIENT_TOKEN,),
                                                      "worker_tokens": (WORKER_TOKEN,)})


@pytest.fixture
async def orch(settings: OrchestratorSettings) -> AsyncIterator[Orchestrator]:
    orchestrator = Orchestrator(settings)
    await orchestrator.start()
    try:
        yield orchestrator
    finally:
        await orchestrator.stop()


@pytest.fixture
async def admin(orch: Orchestrator) -> AsyncIterator[httpx.AsyncClient]:
    """Raw HTTP with the admin token: plays the worker's part in these tests."""
    async with httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as http:
        yield http
