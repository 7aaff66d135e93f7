"""The worker's self-check, sent with every heartbeat (seed 4.2 "Worker Health Monitoring").

``checkSystemHealth()`` of the seed: resource usage is reported for the orchestrator's listings
and alerting; the worker calls itself unhealthy only when it cannot do its job at all — its
workspace root is no longer writable — so a busy machine is not taken out of rotation.
"""

from __future__ import annotations

import os
from pathlib import Path

import psutil

from runtime.protocol import WorkerHealth


def measure_health(workspace_root: Path, running_tasks: int) -> WorkerHealth:
    writable = os.access(workspace_root, os.W_OK | os.X_OK)
    return WorkerHealth(
        status="healthy" if writable else "unhealthy",
        cpu_percent=psutil.cpu_percent(interval=None),
        memory_percent=psutil.virtual_memory().percent,
        disk_percent=psutil.disk_usage(str(workspace_root)).percent if workspace_root.exists() else 0.0,
        running_tasks=running_tasks,
    )
