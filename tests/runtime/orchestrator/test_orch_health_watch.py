"""Health checks that keep looking after startup (issue 14): an external service that fails later makes
the orchestrator degraded on ``/health/ready`` with the reason, and its recovery restores it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import httpx
import pytest

from runtime.orchestrator import Orchestrator
from spec.policies import HealthPolicy
from tests.runtime.orchestrator.orch_helpers import AUTH, make_settings

FAST_HEALTH = HealthPolicy(interval_s=0.1, check_timeout_s=1.0, failures_to_degrade=2)


class ExternalService:
    """A real HTTP server on 127.0.0.1 whose health endpoint answers 200 or 503."""

    def __init__(self) -> None:
        self.status = 200
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        reason = b"OK" if self.status == 200 else b"Service Unavailable"
        writer.write(b"HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n" % (self.status, reason))
        await writer.drain()
        writer.close()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._answer, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/health"


@pytest.fixture
async def service() -> AsyncIterator[ExternalService]:
    external = ExternalService()
    await external.start()
    try:
        yield external
    finally:
        await external.stop()


async def _ready(http: httpx.AsyncClient) -> dict[str, object]:
    body: dict[str, object] = (await http.get("/health/ready")).json()
    return body


async def _until(condition: Callable[[], bool], what: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await anyio.sleep(0.05)


@pytest.mark.anyio
async def test_a_service_failing_later_degrades_and_its_recovery_restores(tmp_path: Path,
                                                                         service: ExternalService) -> None:
    settings = make_settings(tmp_path, health=FAST_HEALTH).model_copy(
        update={"external_services": {"git": service.url}})
    async with Orchestrator(settings) as orch, httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as http:
        assert orch.startup is not None and orch.startup.state == "running"
        assert (await _ready(http))["status"] == "ready"

        service.status = 503
        await _until(lambda: orch.health_watch.verdict.degraded, "the failing service to degrade the orchestrator")
        body = await _ready(http)
        assert body["status"] == "degraded" and "git: answered HTTP 503" in str(body["reason"])
        monitoring = body["monitoring"]
        assert isinstance(monitoring, dict) and monitoring["failing"] == {"git": "answered HTTP 503"}

        await service.stop()  # gone altogether: still degraded, with the new reason
        await _until(lambda: "unreachable" in orch.health_watch.verdict.failing.get("git", ""), "the new reason")

        service.status = 200
        await service.start()
        await _until(lambda: not orch.health_watch.verdict.degraded, "the recovered service to restore it")
        assert (await _ready(http))["status"] == "ready"


@pytest.mark.anyio
async def test_a_service_down_at_startup_starts_degraded(tmp_path: Path, service: ExternalService) -> None:
    service.status = 503
    settings = make_settings(tmp_path, health=FAST_HEALTH).model_copy(
        update={"external_services": {"git": service.url}})
    async with Orchestrator(settings) as orch, httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as http:
        assert orch.startup is not None and orch.startup.state == "degraded"
        body = await _ready(http)
        assert body["status"] == "degraded" and "git" in str(body["reason"])
        service.status = 200
        await _until(lambda: not orch.health_watch.verdict.degraded, "the service's recovery")
        assert (await _ready(http))["status"] == "ready"


@pytest.mark.anyio
async def test_a_service_check_that_passes_now_outweighs_the_last_rounds_failure(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, health=HealthPolicy(interval_s=3600, failures_to_degrade=1))
    async with Orchestrator(settings) as orch, httpx.AsyncClient(base_url=orch.url, headers=AUTH, timeout=30) as http:
        # The last round saw the database fail (a fault since recovered); the next round is an hour away.
        orch.health_watch.observe({"database": "check failed", "git": "answered HTTP 503"}, orch.now())
        body = await _ready(http)
        assert body["status"] == "degraded" and body["monitoring"] == {
            "checkedAt": orch.health_watch.verdict.at, "failing": {"git": "answered HTTP 503"}}
        assert "database" not in str(body["reason"])
