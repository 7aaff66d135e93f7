"""The ``ai_coding`` task type: the reference workflow (seed 4.3) as a handler a worker runs.

``register_coding_workflow(worker, git=..., ai=..., gates=...)`` gives the worker one shared set of
resilience services (so a provider's circuit breaker sees every task's calls) and registers a
handler that runs a fresh :class:`~runtime.workflow.pipeline.CodingPipeline` per task. The
services' calls and breakers are watched by the worker's telemetry, so the orchestrator sees them.
"""

from __future__ import annotations

from typing import Any

from runtime.resilience import BreakerRegistry, Clock, Escalator, TraceSink
from runtime.worker.agent import Worker
from runtime.worker.context import TaskContext
from runtime.workflow.pipeline import CodingPipeline, WorkflowServices
from runtime.workflow.providers import AIProvider, GitPlatform, QualityGates
from spec.policies import Policies

#: The task type a workflow submits to have the reference workflow run.
TASK_TYPE = "ai_coding"


class CodingWorkflow:
    """The handler: ``await workflow(ctx)`` runs the four steps in the task's workspace."""

    def __init__(self, services: WorkflowServices) -> None:
        self.services = services
        #: The pipeline of the most recent task (its machine state and trace component), for observers.
        self.last_pipeline: CodingPipeline | None = None

    async def __call__(self, ctx: TaskContext) -> dict[str, Any]:
        pipeline = CodingPipeline(ctx, self.services)
        self.last_pipeline = pipeline
        return await pipeline.run()


def register_coding_workflow(
    worker: Worker,
    *,
    git: GitPlatform,
    ai: AIProvider,
    gates: QualityGates,
    policies: Policies | None = None,
    breakers: BreakerRegistry | None = None,
    clock: Clock | None = None,
    escalator: Escalator | None = None,
    trace_sink: TraceSink | None = None,
    task_type: str = TASK_TYPE,
) -> CodingWorkflow:
    """Register the ``ai_coding`` handler on `worker`; policies and escalator default to the worker's own."""
    services = WorkflowServices(
        git, ai, gates,
        policies=policies if policies is not None else worker.policies,
        breakers=breakers, clock=clock, trace_sink=trace_sink,
        escalator=escalator if escalator is not None else worker.escalator,
    )
    # The worker reports these calls and breakers to the orchestrator (runtime.worker.telemetry).
    worker.telemetry.watch_breakers(services.breakers)
    worker.telemetry.watch_service(services.git_service)
    worker.telemetry.watch_service(services.ai_service)
    workflow = CodingWorkflow(services)

    @worker.task(task_type)
    async def ai_coding(ctx: TaskContext) -> dict[str, Any]:
        return await workflow(ctx)

    return workflow
