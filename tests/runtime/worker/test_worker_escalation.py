"""A worker's escalations (runtime.worker.escalation): which task failures escalate, and where to."""

from __future__ import annotations

import asyncio

import pytest

from runtime.escalation_config import WorkerEscalationRoutes
from runtime.protocol import TaskError
from runtime.resilience import CallbackHook, Escalation, WebhookHook
from runtime.worker.escalation import OrchestratorEscalationHook, TaskErrorEscalation, worker_escalator
from runtime.worker.task_runner import TaskOutcome
from spec.policies import DEFAULT_POLICIES
from spec.taxonomy import ErrorClass, FailureCode, category


def test_only_resource_exhaustion_escalates_and_at_the_taxonomys_level() -> None:
    level = category(ErrorClass.SYSTEM).escalation_level
    assert TaskErrorEscalation.escalates(TaskError(code="RESOURCE_EXHAUSTED", error_class="system")) == level
    assert TaskErrorEscalation.escalates(TaskError(code=FailureCode.TIMEOUT.value, error_class="system")) is None
    assert TaskErrorEscalation.escalates(TaskError(code="TASK_ERROR", error_class="network")) is None


def test_workers_escalate_through_the_orchestrator_unless_told_not_to() -> None:
    routes = WorkerEscalationRoutes.model_validate({"levels": {"3": {"webhooks": ["http://127.0.0.1:9/x"]}}})
    escalator = worker_escalator(routes, DEFAULT_POLICIES.alerts, client=lambda: None, worker_id=lambda: "w1")
    assert [type(h) for h in escalator.hooks(3)] == [WebhookHook, OrchestratorEscalationHook]
    assert [type(h) for h in escalator.hooks(4)] == [OrchestratorEscalationHook]
    alone = worker_escalator(routes.model_copy(update={"via_orchestrator": False}), DEFAULT_POLICIES.alerts,
                             client=lambda: None, worker_id=lambda: "w1")
    assert alone.hooks(4) == () and [type(h) for h in alone.hooks(3)] == [WebhookHook]

    async def disconnected() -> None:
        outcome = await escalator.escalate(4, "disk full", source="task:t1")
        assert [str(f) for f in outcome.failures] == [
            "could not deliver escalation to the orchestrator: the worker is not connected to it"]

    asyncio.run(disconnected())


@pytest.mark.anyio
async def test_a_failed_tasks_escalation_runs_in_the_background_and_settles() -> None:
    got: list[Escalation] = []
    escalator = worker_escalator(WorkerEscalationRoutes(via_orchestrator=False), DEFAULT_POLICIES.alerts,
                                 client=lambda: None, worker_id=lambda: "w1")
    escalator.add_hook(4, CallbackHook(got.append))
    escalate = TaskErrorEscalation(escalator, lambda: "w1")
    escalate(TaskOutcome("t1", "failed", error=TaskError(code="RESOURCE_EXHAUSTED", error_class="system",
                                                         message="out of memory")))
    escalate(TaskOutcome("t2", "failed", error=TaskError(code="TIMEOUT", error_class="system")))
    escalate(TaskOutcome("t3", "completed", result={}))
    await escalate.settle(5.0)
    assert [(e.level, e.source, e.details["workerId"]) for e in got] == [(4, "task:t1", "w1")]
    assert "out of memory" in got[0].reason
