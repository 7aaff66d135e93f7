from __future__ import annotations

from pathlib import Path

from runtime.worker.health import measure_health


def test_a_writable_workspace_root_is_healthy_and_usage_is_reported(tmp_path: Path) -> None:
    health = measure_health(tmp_path, running_tasks=2)
    assert health.status == "healthy" and health.running_tasks == 2
    assert 0 <= health.memory_percent <= 100 and 0 <= health.disk_percent <= 100


def test_a_vanished_workspace_root_is_unhealthy(tmp_path: Path) -> None:
    assert measure_health(tmp_path / "gone", running_tasks=0).status == "unhealthy"
