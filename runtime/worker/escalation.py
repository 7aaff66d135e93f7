"""A worker's escalations: through the orchestrator by default, plus any routes of its own (issue 13).

Workers are where external calls fail, retries run out and system errors happen, but who gets
paged is the operator's decision, configured once on the orchestrator
(`runtime.escalation_config`). :class:`OrchestratorEscalationHook` hands every escalation to
``POST /api/v1/workers/escalations``; the orchestrator answers at once and routes it. Routes in
the worker's own escalation file are used as well (a pager reachable only from the worker's
network). Every escalation is logged by the worker either way, so an orchestrator that is down
loses no record of it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from runtime.escalation_config import WorkerEscalationRoutes, build_escalator
from runtime.protocol import TaskError
from runtime.resilience.errors import EscalationDeliveryError
from runtime.resilience.escalation import Escalation, Escalator
from runtime.telemetry_protocol import WorkerEscalation
from runtime.worker.client import OrchestratorClient
from runtime.worker.errors import OrchestratorError
from runtime.worker.task_runner import TaskOutcome
from spec.policies import AlertPolicy
from spec.taxonomy import ErrorClass, FailureCode, category

log = logging.getLogger("runtime.worker.escalation")

#: The details a wire escalation may carry (the model's limit); the rest is dropped, not refused.
_MAX_DETAILS = 64


class OrchestratorEscalationHook:
    """Delivers an escalation to the orchestrator, on behalf of the running worker."""

    def __init__(self, client: Callable[[], OrchestratorClient | None], worker_id: Callable[[], str]) -> None:
        self._client = client
        self._worker_id = worker_id

    async def __call__(self, escalation: Escalation) -> None:
        client = self._client()
        if client is None:
            raise EscalationDeliveryError("the orchestrator", "the worker is not connected to it")
        details = dict(list(escalation.to_json()["details"].items())[:_MAX_DETAILS])
        body = WorkerEscalation(worker_id=self._worker_id(), level=escalation.level, reason=escalation.reason[:4000],
                                source=escalation.source[:256], details=details)
        try:
            await client.escalate(body)
        except OrchestratorError as exc:
            raise EscalationDeliveryError("the orchestrator", str(exc)) from None

    def __repr__(self) -> str:
        return "OrchestratorEscalationHook()"


class TaskErrorEscalation:
    """Escalates a task that failed on a critical system error: out of memory, disk full, a resource limit.

    Those are the taxonomy's system errors (``FailureCode.RESOURCE_EXHAUSTED``); the taxonomy gives
    them level 4 ("Critical alert, immediate administrator notification") and never retries them,
    so no retry handler ever escalates them. A task that outlived its time limit is classed as a
    system error too, but it is the task's own limit, not the machine's state: it fails (and may
    be retried) without paging anyone. Network, unknown, rate-limit and authentication errors are
    escalated by their handlers (retries exhausted, limit persisted, repeated rejections).
    Delivery runs in the background: the worker's slot is free at once.
    """

    def __init__(self, escalator: Escalator, worker_id: Callable[[], str]) -> None:
        self.escalator = escalator
        self._worker_id = worker_id
        self._delivering: set[asyncio.Task[None]] = set()

    @staticmethod
    def escalates(error: TaskError) -> int | None:
        """The level a task failing with `error` is escalated at here (the taxonomy's), or ``None``."""
        if error.error_class != ErrorClass.SYSTEM.value or error.code != FailureCode.RESOURCE_EXHAUSTED.value:
            return None
        return category(ErrorClass.SYSTEM).escalation_level

    def __call__(self, outcome: TaskOutcome) -> None:
        error = outcome.error
        level = self.escalates(error) if error is not None else None
        if error is None or level is None:
            return
        task = asyncio.get_running_loop().create_task(self._escalate(
            level, f"task {outcome.task_id} failed with a {error.error_class} error ({error.code}): "
                   f"{error.message[:500]}",
            source=f"task:{outcome.task_id}",
            details={"taskId": outcome.task_id, "workerId": self._worker_id(), "code": error.code,
                     "errorClass": error.error_class}))
        self._delivering.add(task)
        task.add_done_callback(self._delivered)

    async def _escalate(self, level: int, reason: str, *, source: str, details: dict[str, str]) -> None:
        await self.escalator.escalate(level, reason, source=source, details=details)

    def _delivered(self, task: asyncio.Task[None]) -> None:
        self._delivering.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("escalating a task's system error failed: %s", task.exception())

    async def settle(self, timeout_s: float) -> None:
        """Wait (up to `timeout_s`) for escalations in flight, e.g. before the worker deregisters."""
        if self._delivering:
            await asyncio.wait(list(self._delivering), timeout=timeout_s)


def worker_escalator(routes: WorkerEscalationRoutes, policy: AlertPolicy, *,
                     client: Callable[[], OrchestratorClient | None], worker_id: Callable[[], str]) -> Escalator:
    """The worker's own routes, and (unless ``via_orchestrator`` is off) the orchestrator for every level."""
    escalator = build_escalator(routes, policy)
    if routes.via_orchestrator:
        hook = OrchestratorEscalationHook(client, worker_id)
        for level in escalator.levels:
            escalator.add_hook(level, hook)
    return escalator


__all__ = ["OrchestratorEscalationHook", "TaskErrorEscalation", "worker_escalator"]
