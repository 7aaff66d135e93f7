"""A real Prometheus scraping a real orchestrator: alerts fire and clear in both alike (issue 13).

Prometheus runs on 127.0.0.1 with its own config and a data directory under the test's temp
dir, loading the rules generated from the same (shortened) alert policy the orchestrator
evaluates. Failing calls reach the orchestrator through ``MonitoringService.record_call``, the
path workers' telemetry takes. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from runtime.orchestrator import Orchestrator
from spec.policies import DEFAULT_POLICIES
from spec.render.prometheus_rules import render_prometheus_rules
from tests.runtime.monitoring.monitoring_helpers import running

PROMETHEUS = shutil.which("prometheus")
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(PROMETHEUS is None, reason="prometheus not installed (Debian package 'prometheus'; "
                       ".ci/run installs it)"),
]

#: Scrape and evaluation interval of both sides, and the shortened rule timings (policy fields).
INTERVAL_S = 1.0
RULE = DEFAULT_POLICIES.alerts.rule("HighErrorRate").model_copy(update={"for_s": 2.0})
BREAKER_RULE = DEFAULT_POLICIES.alerts.rule("CircuitBreakerOpen")
ALERTS = DEFAULT_POLICIES.alerts.model_copy(update={"rules": (RULE, BREAKER_RULE), "rate_window_s": 5.0})
BREAKER = DEFAULT_POLICIES.circuit_breaker.model_copy(update={"open_duration_s": 1.0})
DEADLINE_S = 40.0


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@asynccontextmanager
async def prometheus(tmp_path: Path, target: str) -> AsyncIterator[httpx.AsyncClient]:
    rules = tmp_path / "alerts.rules.yml"
    rules.write_text(render_prometheus_rules(ALERTS))
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump({
        "global": {"scrape_interval": f"{INTERVAL_S:g}s", "evaluation_interval": f"{INTERVAL_S:g}s"},
        "rule_files": [str(rules)],
        "scrape_configs": [{"job_name": "orchestrator", "static_configs": [{"targets": [target]}]}],
    }))
    port = free_port()
    assert PROMETHEUS is not None
    log = open(tmp_path / "prometheus.log", "w", encoding="utf-8")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            await wait_until(lambda: ready(client), "Prometheus to be ready", process, tmp_path)
            yield client
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


async def ready(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/-/ready")).status_code == 200
    except httpx.HTTPError:
        return False


async def wait_until(condition: Callable[[], Any], what: str, process: subprocess.Popen[bytes] | None = None,
                     tmp_path: Path | None = None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not await condition():
        if process is not None and process.poll() is not None and tmp_path is not None:
            raise AssertionError(f"prometheus exited: {(tmp_path / 'prometheus.log').read_text()[-2000:]}")
        assert loop.time() < deadline, f"timed out after {DEADLINE_S} s waiting for {what}"
        await asyncio.sleep(0.2)


async def scraping(client: httpx.AsyncClient) -> bool:
    body = (await client.get("/api/v1/query", params={"query": 'up{job="orchestrator"}'})).json()
    return any(r["value"][1] == "1" for r in body["data"]["result"])


async def firing_in_prometheus(client: httpx.AsyncClient) -> set[str]:
    body = (await client.get("/api/v1/alerts")).json()
    return {a["labels"]["alertname"] for a in body["data"]["alerts"] if a["state"] == "firing"}


async def firing_in_orchestrator(client: httpx.AsyncClient) -> set[str]:
    body = (await client.get("/api/v1/alerts")).json()
    return {a["labels"]["alertname"] for a in body["data"]["alerts"] if a["state"] == "firing"}


async def test_alerts_fire_and_clear_in_prometheus_and_the_orchestrator(tmp_path: Path) -> None:
    settings = {"alert_eval_interval_s": INTERVAL_S}
    async with running(tmp_path, settings, alerts=ALERTS, circuit_breaker=BREAKER) as (orch, client):
        target = orch.url.removeprefix("http://")
        async with prometheus(tmp_path, target) as prom:
            # Prometheus discovers its targets in batches (seconds): start once it scrapes ours.
            await wait_until(lambda: scraping(prom), "Prometheus to scrape the orchestrator")
            feeding = asyncio.create_task(feed_failures(orch))
            seen: dict[str, float] = {}
            try:
                await wait_until(lambda: both_firing(prom, client, RULE.name, seen), "HighErrorRate firing in both")
            finally:
                feeding.cancel()
            # Both evaluate every INTERVAL_S on samples scraped every INTERVAL_S: they may differ by
            # the phase of their scrapes and evaluations, a few intervals, not by a rule's duration.
            lag = abs(seen["prometheus"] - seen["orchestrator"])
            assert lag <= RULE.for_s + 3 * INTERVAL_S, f"fired {lag:.1f} s apart: {seen}"
            await wait_until(lambda: both_clear(prom, client), "HighErrorRate cleared in both")

            orch.breakers.get("git-platform").force_open()
            await wait_until(lambda: both_firing(prom, client, BREAKER_RULE.name), "CircuitBreakerOpen in both")
            await asyncio.sleep(BREAKER.open_duration_s)
            assert await orch.monitoring.service("git-platform").call("push", succeed) == "ok"  # the trial closes it
            await wait_until(lambda: both_clear(prom, client), "CircuitBreakerOpen cleared in both")


async def succeed() -> str:
    return "ok"


async def feed_failures(orch: Orchestrator) -> None:
    while True:
        orch.monitoring.record_call("git-platform", "push", ok=False, duration_s=0.01)
        await asyncio.sleep(0.1)


async def both_firing(prom: httpx.AsyncClient, client: httpx.AsyncClient, alert: str,
                      seen: dict[str, float] | None = None) -> bool:
    """Whether `alert` fires in both; `seen` records when each side was first seen firing."""
    now = asyncio.get_running_loop().time()
    seen = {} if seen is None else seen
    if alert in await firing_in_prometheus(prom):
        seen.setdefault("prometheus", now)
    if alert in await firing_in_orchestrator(client):
        seen.setdefault("orchestrator", now)
    return len(seen) == 2


async def both_clear(prom: httpx.AsyncClient, client: httpx.AsyncClient) -> bool:
    return not await firing_in_prometheus(prom) and not await firing_in_orchestrator(client)
