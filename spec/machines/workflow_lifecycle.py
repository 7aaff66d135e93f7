"""A workflow as the orchestrator sees it (seed 4.3): submitted, running, completed or failed."""

from __future__ import annotations

from spec.machine import MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, push, reply, step
from spec.participants import CLIENT, ORCHESTRATOR, TASK_QUEUE, WEBSOCKET_SERVER

ORCH, TQ, WS, CLI = ORCHESTRATOR, TASK_QUEUE, WEBSOCKET_SERVER, CLIENT

WORKFLOW_LIFECYCLE = MachineSpec(
    name="workflow_lifecycle",
    title="Workflow lifecycle",
    seed_section="4.3",
    description="A client submits a workflow; its task(s) run; the orchestrator announces the outcome.",
    initial="new",
    states=(
        StateSpec("new", "Not yet submitted.", StateRole.RESTING),
        StateSpec("pending", "Accepted and enqueued; no task started yet.", StateRole.RESTING),
        StateSpec("running", "At least one task has started.", StateRole.RESTING),
        StateSpec("completed", "Every task completed.", StateRole.TERMINAL),
        StateSpec("failed", "A task failed for good.", StateRole.TERMINAL),
        StateSpec("rejected", "The submission was invalid; nothing was stored.", StateRole.TERMINAL),
    ),
    transitions=(
        transition("submit", "new", "pending", "The client submits an issue to work on.",
                   call(CLI, ORCH, "POST /api/v1/workflows"), step(ORCH, "createWorkflow(issue)"),
                   call(ORCH, TQ, "enqueue(workflowTask)"), reply(ORCH, CLI, "workflowId")),
        transition("reject", "new", "rejected", "Invalid input: a 422 naming the field; nothing stored.",
                   call(CLI, ORCH, "POST /api/v1/workflows"), reply(ORCH, CLI, "422 validation error")),
        transition("task_started", "pending", "running", "Its first task started.",
                   step(ORCH, "updateWorkflowStatus(workflowId, running)")),
        transition("complete", "running", "completed", "All tasks completed.",
                   step(ORCH, "updateWorkflowStatus(workflowId, completed)"),
                   call(ORCH, WS, "broadcastEvent(workflowId, WORKFLOW_COMPLETED)"),
                   push(WS, CLI, "workflow completed")),
        transition("fail", ("pending", "running"), "failed", "A task failed and will not be retried.",
                   step(ORCH, "updateWorkflowStatus(workflowId, failed)"),
                   call(ORCH, WS, "broadcastEvent(workflowId, WORKFLOW_FAILED)"), push(WS, CLI, "workflow failed")),
    ),
)
