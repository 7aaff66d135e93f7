"""A worker's system errors (seed 4.5 flowchart G), driven by `spec.decisions.system_errors`.

The task runner hands every exception a handler raised to :meth:`SystemErrorResponder.task_failed`.
One that says a machine resource ran out (`spec.system_resources.exhausted_resource`) is decided by
the spec's core:

* **critical** (``SystemErrorPolicy.critical_resources``, the worker's own disk by default): the task
  goes back *interrupted* with its saved state instead of failing, since the fault is the machine's,
  not the task's; the worker escalates at the taxonomy's level and shuts down: running tasks get
  ``emergency_task_deadline_s``, then go back with their saved state too, and it deregisters. Nothing
  acknowledged is lost: every task it held is re-queued for another worker.
* **not critical**: the task fails as before (and `TaskErrorEscalation` escalates it); the worker
  cleans up (dead processes' workspaces, a garbage collection) and measures the resource again.
  Recovered: it goes on. Not recovered, or recovering too often: it is **degraded** — its heartbeats
  say ``unhealthy``, so the orchestrator takes it out of rotation (``orchestration_workers`` by
  state, the workers listing) — until `spec.decisions.system_errors.SystemErrorHandler.recheck`
  restores it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource as os_resource
import time
from collections.abc import Awaitable, Callable

import psutil

from runtime.protocol import WorkerHealth
from runtime.resilience.escalation import Escalator
from runtime.worker.workspace import WorkspaceRoot
from spec.decisions.system_errors import SystemErrorAction, SystemErrorDecision, SystemErrorHandler
from spec.operations_policies import SystemErrorPolicy
from spec.system_resources import SystemResource, exhausted_resource

log = logging.getLogger("runtime.worker.system_errors")


def measured_usage(resource: SystemResource, workspaces: WorkspaceRoot) -> float | None:
    """Percent of `resource` in use now, as the recovery check sees it; ``None`` when it cannot be measured."""
    try:
        if resource is SystemResource.DISK:
            return float(psutil.disk_usage(str(workspaces.path)).percent)
        if resource is SystemResource.MEMORY:
            return float(psutil.virtual_memory().percent)
        if resource is SystemResource.FILE_DESCRIPTORS:
            soft, _ = os_resource.getrlimit(os_resource.RLIMIT_NOFILE)
            if soft <= 0 or soft == os_resource.RLIM_INFINITY:
                return None
            return 100.0 * psutil.Process().num_fds() / soft
    except OSError as exc:  # the workspace root vanished, /proc unreadable: not measurable
        log.warning("cannot measure %s use: %s", resource.value, exc)
    return None  # network buffers: the kernel gives no per-process figure


class SystemErrorResponder:
    """One worker's answers to system errors: emergency shutdown, recovery attempts, degraded mode."""

    def __init__(self, policy: SystemErrorPolicy, escalator: Escalator, *, worker_id: Callable[[], str],
                 workspaces: WorkspaceRoot, clean_up: Callable[[], Awaitable[int]],
                 on_emergency: Callable[[SystemErrorDecision], None],
                 clock: Callable[[], float] = time.monotonic,
                 measure: Callable[[SystemResource], float | None] | None = None) -> None:
        self.core = SystemErrorHandler(policy)
        self._escalator = escalator
        self._worker_id = worker_id
        self._clean_up = clean_up
        self._on_emergency = on_emergency
        self._clock = clock
        self._measure = measure or (lambda resource: measured_usage(resource, workspaces))
        self._background: set[asyncio.Task[None]] = set()

    @property
    def emergency(self) -> SystemErrorDecision | None:
        """The decision that shut this worker down, once one did."""
        return self.core.shutting_down

    @property
    def may_lease(self) -> bool:
        return self.core.shutting_down is None and not self.core.is_degraded

    def task_failed(self, task_id: str, exc: BaseException) -> str | None:
        """A handler of `task_id` raised `exc`: why the task goes back interrupted, or ``None``: it fails."""
        resource = exhausted_resource(exc)
        if resource is None:
            return None
        already_stopping = self.core.shutting_down is not None
        decision = self.core.on_error(resource, self._clock())
        if decision.action is SystemErrorAction.EMERGENCY_SHUTDOWN:
            first = not already_stopping
            log.critical("task %s: %s (%s: %s)", task_id, decision.reason, type(exc).__name__, exc)
            if first:
                self._in_background(self._escalate(decision, task_id, exc))
                self._on_emergency(decision)
            return f"{decision.reason} on worker {self._worker_id()}"
        if decision.action is SystemErrorAction.ATTEMPT_RECOVERY:
            log.warning("task %s: %s", task_id, decision.reason)
            self._in_background(self._recover(resource))
        else:
            log.error("task %s: %s", task_id, decision.reason)
        return None

    def apply(self, health: WorkerHealth) -> WorkerHealth:
        """The health to report: ``unhealthy`` while degraded; restores resources that measure well again."""
        if not self.core.is_degraded:
            return health
        usage = {resource: self._measure(resource) for resource in self.core.degraded}
        for restored in self.core.recheck(usage, self._clock()):
            log.warning("%s recovered: the worker leaves degraded mode", restored.value)
        if not self.core.is_degraded:
            return health
        return health.model_copy(update={"status": "unhealthy"})

    async def settle(self, timeout_s: float) -> None:
        """Wait (up to `timeout_s`) for escalations and recoveries in flight, e.g. before deregistering."""
        if self._background:
            await asyncio.wait(list(self._background), timeout=timeout_s)

    def cancel(self) -> None:
        for task in list(self._background):
            task.cancel()

    async def _recover(self, resource: SystemResource) -> None:
        try:
            removed = await self._clean_up()
        except Exception as exc:  # a full disk may fail the cleanup too: the measurement decides
            log.warning("cleaning up after a system error failed: %s", exc)
            removed = 0
        gc.collect()
        decision = self.core.recovery_measured(resource, self._measure(resource), self._clock())
        if decision.action is SystemErrorAction.CONTINUE:
            log.info("%s (removed %d leftover workspace(s))", decision.reason, removed)
        else:
            log.error("recovery failed: %s", decision.reason)

    async def _escalate(self, decision: SystemErrorDecision, task_id: str, exc: BaseException) -> None:
        if decision.escalation_level is None:
            return
        worker_id = self._worker_id()
        await self._escalator.escalate(
            decision.escalation_level, f"worker {worker_id}: {decision.reason}: {type(exc).__name__}: {exc}"[:4000],
            source=f"worker:{worker_id}",
            details={"workerId": worker_id, "taskId": task_id, "resource": decision.resource.value,
                     "action": decision.action.value})

    def _in_background(self, work: Awaitable[None]) -> None:
        task = asyncio.get_running_loop().create_task(self._logged(work))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @staticmethod
    async def _logged(work: Awaitable[None]) -> None:
        try:
            await work
        except Exception:
            log.exception("handling a system error failed")


__all__ = ["SystemErrorResponder", "measured_usage"]
