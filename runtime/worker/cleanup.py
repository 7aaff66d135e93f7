"""Scheduled workspace cleanup (issue 14): a dead process's workspaces are found while this worker runs.

At start, ``worker_recovery`` removes the workspaces of a dead worker process and hands their
tasks back (`runtime.worker.recovery`). Workers may share one workspace root, so a neighbour can
die while this worker keeps running; every ``CleanupPolicy.workspace_interval_s`` this worker
does the same for it: removes what the dead process left and reports each task it held
interrupted, with its saved state, so the orchestrator re-queues it at once instead of after the
dead worker's heartbeat timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from runtime.worker.recovery import hand_back
from runtime.worker.task_runner import TaskRunner
from runtime.worker.workspace import WorkspaceRoot

log = logging.getLogger("runtime.worker")


async def sweep_leftovers(workspaces: WorkspaceRoot, runner: TaskRunner, worker_id: str) -> int:
    """One sweep: remove dead processes' workspaces, hand their tasks back; how many were found."""
    removed = workspaces.remove_leftovers()
    if removed:
        log.info("removed %d workspace(s) left by a dead worker process; handing their tasks back", len(removed))
        await hand_back(removed, runner, worker_id)
    return len(removed)


async def clean_periodically(workspaces: WorkspaceRoot, runner: TaskRunner, worker_id: Callable[[], str],
                             interval_s: float) -> None:
    """Sweep every `interval_s` until cancelled; a failed sweep is logged and tried again next time."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await sweep_leftovers(workspaces, runner, worker_id())
        except Exception:  # a full disk or a vanished root must not stop the worker
            log.exception("workspace cleanup failed; trying again in %g s", interval_s)
