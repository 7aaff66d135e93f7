"""A workflow as the orchestrator sees it (seed 4.3): submitted, running, completed, failed or cancelled.

A workflow is one task or a DAG of tasks (issue 12); when its tasks' outcomes settle it, and
how under its ``failurePolicy``, is `spec.decisions.task_graph`'s decision.
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, push, reply, step
from spec.participants import CLIENT, ORCHESTRATOR, TASK_QUEUE, WEBSOCKET_SERVER


class WorkflowState(StrEnum):
    """The workflow_lifecycle machine's states, named once for its table and every consumer."""

    NEW = "new"
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class WorkflowTrigger(StrEnum):
    """The workflow_lifecycle machine's triggers, named once for its table and every consumer."""

    SUBMIT = "submit"
    REJECT = "reject"
    TASK_STARTED = "task_started"
    COMPLETE = "complete"
    FAIL = "fail"
    CANCEL = "cancel"


S, T = WorkflowState, WorkflowTrigger

ORCH, TQ, WS, CLI = ORCHESTRATOR, TASK_QUEUE, WEBSOCKET_SERVER, CLIENT

WORKFLOW_LIFECYCLE = MachineSpec(
    name="workflow_lifecycle",
    title="Workflow lifecycle",
    seed_section="4.3",
    description="A client submits a workflow; its task(s) run; the orchestrator announces the outcome.",
    initial=S.NEW,
    states=(
        StateSpec(S.NEW, "Not yet submitted.", StateRole.RESTING),
        StateSpec(S.PENDING, "Accepted and enqueued; no task started yet.", StateRole.RESTING),
        StateSpec(S.RUNNING, "At least one task has started.", StateRole.RESTING),
        StateSpec(S.COMPLETED, "Every task completed.", StateRole.TERMINAL),
        StateSpec(S.FAILED, "A task failed for good.", StateRole.TERMINAL),
        StateSpec(S.REJECTED, "The submission was invalid; nothing was stored.", StateRole.TERMINAL),
        StateSpec(S.CANCELLED, "The client cancelled it before it settled.", StateRole.TERMINAL),
    ),
    transitions=(
        transition(T.SUBMIT, S.NEW, S.PENDING, "The client submits an issue to work on.",
                   call(CLI, ORCH, "POST /api/v1/workflows"), step(ORCH, "createWorkflow(issue)"),
                   call(ORCH, TQ, "enqueue(workflowTask)"), reply(ORCH, CLI, "workflowId")),
        transition(T.REJECT, S.NEW, S.REJECTED, "Invalid input: a 422 naming the field; nothing stored.",
                   call(CLI, ORCH, "POST /api/v1/workflows"), reply(ORCH, CLI, "422 validation error")),
        transition(T.TASK_STARTED, S.PENDING, S.RUNNING, "Its first task started.",
                   step(ORCH, "updateWorkflowStatus(workflowId, running)")),
        transition(T.COMPLETE, S.RUNNING, S.COMPLETED, "All its tasks completed.",
                   step(ORCH, "updateWorkflowStatus(workflowId, completed)"),
                   call(ORCH, WS, "broadcastEvent(workflowId, WORKFLOW_COMPLETED)"),
                   push(WS, CLI, "workflow completed")),
        transition(T.FAIL, (S.PENDING, S.RUNNING), S.FAILED,
                   "A task failed and will not be retried: at once (failurePolicy fail_fast, its other tasks "
                   "cancelled), or once every task that does not depend on it has ended (finish_independent).",
                   step(ORCH, "updateWorkflowStatus(workflowId, failed)"),
                   call(ORCH, WS, "broadcastEvent(workflowId, WORKFLOW_FAILED)"), push(WS, CLI, "workflow failed")),
        transition(T.CANCEL, (S.PENDING, S.RUNNING), S.CANCELLED,
                   "The client cancels it: waiting tasks are cancelled at once, running ones through the "
                   "cancellation their workers learn of by heartbeat.",
                   call(CLI, ORCH, "POST /api/v1/workflows/{workflowId}/cancel"),
                   call(ORCH, TQ, "cancelWaitingTasks(workflowId)"),
                   call(ORCH, TQ, "requestCancellation(runningTasks)"),
                   step(ORCH, "updateWorkflowStatus(workflowId, cancelled)"),
                   call(ORCH, WS, "broadcastEvent(workflowId, WORKFLOW_CANCELLED)"),
                   reply(ORCH, CLI, "workflow cancelled"), push(WS, CLI, "workflow cancelled")),
    ),
)
