"""``worker_recovery`` (seed 4.4): a worker process starting where a dead one left task workspaces behind.

The dead process's workspaces are removed, the worker registers, and each task they held is
reported interrupted under the dead process's own lease and token, with the state its handler
last saved (`TaskContext.save_state`, kept in the workspace), so the orchestrator re-queues it
at once instead of after the heartbeat timeout and the next worker resumes from that state.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable

from runtime.protocol import TaskInterrupted
from runtime.worker.errors import AuthenticationError, LeaseLostError
from runtime.worker.task_runner import TaskRunner
from runtime.worker.tracing import TraceRecorder
from runtime.worker.workspace import LeftoverWorkspace, WorkspaceRoot
from spec.machines.recovery import WorkerRecoveryTrigger

log = logging.getLogger("runtime.worker")


async def register_recovering(
    workspaces: WorkspaceRoot,
    recorder: TraceRecorder,
    runner: TaskRunner,
    worker_id: Callable[[], str],
    register: Callable[[], Awaitable[None]],
) -> None:
    """Register; first clean up after a dead worker process if its workspaces are found (``worker_recovery``)."""
    if not workspaces.find_leftovers():
        await register()
        return
    recovery = recorder.bind("worker_recovery", f"worker-recovery:{worker_id()}")
    recovery.fire(WorkerRecoveryTrigger.RESTART)
    removed = workspaces.remove_leftovers()
    log.info("removed %d workspace(s) left by a dead worker process", len(removed))
    recovery.fire(WorkerRecoveryTrigger.WORKSPACES_RESTORED)
    try:
        await register()
    except BaseException:
        recovery.fire(WorkerRecoveryTrigger.REGISTRATION_FAILED)
        raise
    recovery.fire(WorkerRecoveryTrigger.REGISTERED)
    await hand_back(removed, runner, worker_id())
    recovery.fire(WorkerRecoveryTrigger.INTERRUPTED_TASKS_RESUMED)


async def hand_back(leftovers: list[LeftoverWorkspace], runner: TaskRunner, recovered_by: str) -> None:
    """Report tasks a crashed worker left behind as interrupted (their old lease, not ours)."""
    for leftover in leftovers:
        meta = leftover.meta
        task_id, worker_id, token = meta.get("taskId"), meta.get("workerId"), meta.get("fencingToken")
        if not (isinstance(task_id, str) and isinstance(worker_id, str) and isinstance(token, int)):
            continue
        dead_token = meta.get("workerToken")  # the dead process's own credential for its lease
        # The handler's saved state goes back with the task, for the next worker to resume from.
        state = {**leftover.saved_state, "reason": "worker process died", "recoveredBy": recovered_by}
        report = TaskInterrupted(task_id=task_id, worker_id=worker_id, fencing_token=token, state=state)
        # Already re-queued after the heartbeat timeout (409), or its token is gone with its registration.
        with contextlib.suppress(LeaseLostError, AuthenticationError):
            await runner.deliver(report, token=dead_token if isinstance(dead_token, str) else None)
