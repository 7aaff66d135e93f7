"""Memory growth of the orchestrator process: sampled by the health rounds, exported, alerting (issue 14)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from runtime.monitoring import FIRING
from runtime.orchestrator import health_watch
from spec.decisions.memory_growth import MemoryGrowth
from spec.metrics import MEMORY_GROWTH
from spec.policies import DEFAULT_POLICIES, MemoryGrowthPolicy
from tests.runtime.monitoring.monitoring_helpers import running

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_growing_orchestrator_exports_its_growth_and_fires_memory_growth(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rule = DEFAULT_POLICIES.alerts.rule("MemoryGrowth").model_copy(update={"for_s": 0.0})
    alerts = DEFAULT_POLICIES.alerts.model_copy(update={"rules": (rule,)})
    rss = [100 * 2**20]
    monkeypatch.setattr(health_watch.psutil, "Process",
                        lambda: SimpleNamespace(memory_info=lambda: SimpleNamespace(rss=rss[0])))
    async with running(tmp_path, alerts=alerts) as (orch, client):
        now = [0.0]
        orch.memory_growth = MemoryGrowth(MemoryGrowthPolicy(window_s=60.0, min_samples=3))
        orch.monotonic = lambda: now[0]  # type: ignore[method-assign]
        assert health_watch.sample_memory(orch) is None  # one sample: no growth yet
        assert (await client.get("/api/v1/alerts")).json()["data"]["alerts"] == []
        for _ in range(6):
            now[0] += 10.0
            rss[0] += 20 * 2**20  # +20 MiB every 10 s: doubling within the window
            growth = health_watch.sample_memory(orch)
        assert growth is not None and growth > rule.threshold
        metrics = (await client.get("/metrics")).text
        assert f'{MEMORY_GROWTH}{{process="orchestrator"}}' in metrics
        [alert] = (await client.get("/api/v1/alerts")).json()["data"]["alerts"]
        assert alert["labels"]["alertname"] == "MemoryGrowth" and alert["labels"]["process"] == "orchestrator"
        assert alert["state"] == FIRING
        for _ in range(12):  # flat for a whole window: the growth and the alert go away
            now[0] += 10.0
            health_watch.sample_memory(orch)
        assert (await client.get("/api/v1/alerts")).json()["data"]["alerts"] == []
