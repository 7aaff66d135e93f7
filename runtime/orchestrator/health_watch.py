"""Health checks that keep looking after startup (seed 4.1 ``startMonitoring()``, issue 14).

Every ``HealthPolicy.interval_s`` this supervised service runs a round: the startup health
phase's checks (database, task queue, worker pool, HTTP and WebSocket servers) and a GET of each
configured external service's health URL (``OrchestratorSettings.external_services``, 2xx within
``check_timeout_s`` passes). `spec.decisions.health.HealthWatch` turns the rounds into a verdict;
``/health/ready`` reports ``degraded`` with the failing checks and their reasons, and a recovered
check restores it. The startup round is the startup machine's own health phase.

Each round also samples the orchestrator's resident set size into `spec.decisions.memory_growth`;
the growth it fits is the ``memory_growth`` gauge (``process="orchestrator"``) the MemoryGrowth
alert rule reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import httpx
import psutil

from spec.decisions.health import HealthVerdict

if TYPE_CHECKING:
    from runtime.orchestrator.orchestrator import Orchestrator

log = logging.getLogger("runtime.orchestrator.health")


async def check_service(http: httpx.AsyncClient, url: str, timeout_s: float) -> str | None:
    """``None`` if `url` answers 2xx within `timeout_s`, else why not (no body, no secret)."""
    try:
        response = await http.get(url, timeout=timeout_s)
    except httpx.TimeoutException:
        return f"no answer within {timeout_s:g} s"
    except httpx.HTTPError as exc:
        return f"unreachable ({type(exc).__name__})"
    return None if response.is_success else f"answered HTTP {response.status_code}"


async def external_results(orch: Orchestrator, http: httpx.AsyncClient) -> dict[str, str | None]:
    services = orch.settings.external_services
    timeout_s = orch.policies.health.check_timeout_s
    names = sorted(services)
    found = await asyncio.gather(*(check_service(http, str(services[n]), timeout_s) for n in names))
    return dict(zip(names, found, strict=True))


async def health_round(orch: Orchestrator, http: httpx.AsyncClient, *, startup: bool = False) -> HealthVerdict:
    """One round of every check, fed to the orchestrator's `HealthWatch`; changes are logged."""
    internal = await orch.health.run_checks()
    results: dict[str, str | None] = {name: None if ok else "check failed" for name, ok in internal.items()}
    results.update(await external_results(orch, http))
    verdict = orch.health_watch.observe(results, orch.now(), startup=startup)
    _log_changes(verdict, results)
    sample_memory(orch)
    return verdict


def sample_memory(orch: Orchestrator) -> float | None:
    """Feed this process's resident set size to its growth detector; export the growth once there is one."""
    growth = orch.memory_growth.observe(psutil.Process().memory_info().rss, orch.monotonic())
    if growth is not None:
        orch.monitoring.metrics.memory_growth.labels(process="orchestrator").set(growth)
    return growth


def _log_changes(verdict: HealthVerdict, results: Mapping[str, str | None]) -> None:
    for name in verdict.degraded_now:
        log.warning("health check %s failing (%s): the orchestrator is degraded", name, results[name],
                    extra={"check": name})
    for name in verdict.restored_now:
        log.info("health check %s passes again%s", name,
                 "" if verdict.degraded else ": the orchestrator is no longer degraded", extra={"check": name})


async def run_health_watch(orch: Orchestrator) -> None:
    """Rounds every ``HealthPolicy.interval_s`` (read each time: a reload may change it)."""
    async with httpx.AsyncClient(follow_redirects=False) as http:
        while True:
            await asyncio.sleep(orch.policies.health.interval_s)
            await health_round(orch, http)
