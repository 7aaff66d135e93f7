"""Fixtures: a real orchestrator on 127.0.0.1 (port 0) in the test's event loop, real SQLite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from runtime.config import OrchestratorSettings
from runtime.orchestrator import Orchestrator
from tests.runtime.orchestrator.orch_helpers import AUTH, make_settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> OrchestratorSettings:
    return make_settings(tmp_path)


@pytest.fixture
async def orch(settings: OrchestratorSettings) -> AsyncIterator[Orchestrator]:
    orchestrator = Orchestrator(settings)
    await orchestrator.start()
    try:
        yield orchestrator
    finally:
        await orchestrator.stop()


@pytest.fixture
async def client(orch: Orchestrator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as http:
        yield http
