"""A task as the queue sees it (seeds 4.2 and 4.3): queued, leased, running, and how it ends.

Task status endpoints are answered by the orchestrator (4.3's view); the seed's 4.2 diagram
routes them through the Registration API, which here only handles worker endpoints.
A task that loses its worker (lease expired, worker unhealthy or deregistered), is
interrupted, or fails in a way `TaskRetryPolicy` retries goes back to ``queued``; stale
reports from the old worker are refused by the lease's fencing token, so no task completes twice.

A task of a multi-task workflow (issue 12) that depends on others waits ``blocked`` until its
last dependency completes (`spec.decisions.task_graph` decides which tasks each outcome
releases, skips or cancels). It never runs if a dependency does not complete (``skipped``), or
if its workflow is cancelled or failed fast first (``cancelled``).
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import SAME, MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, push, reply, step
from spec.participants import (
    CLIENT,
    LOAD_BALANCER,
    ORCHESTRATOR,
    RESOURCE_MANAGER,
    TASK_EXECUTOR,
    TASK_QUEUE,
    WEBSOCKET_SERVER,
    WORKER,
)

W, ORCH, TQ, LB = WORKER, ORCHESTRATOR, TASK_QUEUE, LOAD_BALANCER
WS, RES, CLI, EXE = WEBSOCKET_SERVER, RESOURCE_MANAGER, CLIENT, TASK_EXECUTOR


class TaskState(StrEnum):
    """The task_lifecycle machine's states, named once for its table and every consumer."""

    QUEUED = "queued"
    ASSIGNED = "assigned"
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    COMPLETED = "completed"
    FAILED = "failed"
    BLOCKED = "blocked"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class TaskTrigger(StrEnum):
    """The task_lifecycle machine's triggers, named once for its table and every consumer."""

    ASSIGN = "assign"
    START = "start"
    ALLOCATION_FAILED = "allocation_failed"
    PROGRESS = "progress"
    COMPLETE = "complete"
    FAIL = "fail"
    TIME_OUT = "time_out"
    INTERRUPT = "interrupt"
    REQUEUE = "requeue"
    LEASE_LOST = "lease_lost"
    RETRY = "retry"
    AWAIT_DEPENDENCIES = "await_dependencies"
    RELEASE = "release"
    SKIP = "skip"
    CANCEL = "cancel"
    ABANDON = "abandon"

_RELEASE = (
    call(W, RES, "releaseResources(task)"),
    step(RES, "cleanupWorkspace()"),
    reply(RES, W, "resources released"),
)


S, T = TaskState, TaskTrigger

TASK_LIFECYCLE = MachineSpec(
    name="task_lifecycle",
    title="Task lifecycle",
    seed_section="4.2/4.3",
    description="A task waits in the queue, is leased to one worker, runs with progress reports and ends "
    "completed or failed; lost or interrupted tasks are re-queued.",
    initial=S.QUEUED,
    states=(
        StateSpec(S.QUEUED, "Waiting in the priority queue.", StateRole.RESTING),
        StateSpec(S.ASSIGNED, "Leased to one worker (lease expiry + fencing token); not yet started."),
        StateSpec(S.RUNNING, "The worker reported it started; progress flows."),
        StateSpec(S.INTERRUPTED, "Stopped by a shutdown; state saved; about to be re-queued."),
        StateSpec(S.COMPLETED, "Finished successfully; the result is stored.", StateRole.TERMINAL),
        StateSpec(S.FAILED, "Finished with a classified error.", StateRole.TERMINAL),
        StateSpec(S.BLOCKED, "Waiting for its dependencies to complete; not leasable.", StateRole.RESTING),
        StateSpec(S.SKIPPED, "Never ran: a task it depends on did not complete.", StateRole.TERMINAL),
        StateSpec(S.CANCELLED, "Never finished: its workflow was cancelled, or failed fast, first.",
                  StateRole.TERMINAL),
    ),
    transitions=(
        transition(T.ASSIGN, S.QUEUED, S.ASSIGNED, "A polling worker gets the best task it can run.",
                   call(TQ, LB, "selectTaskForWorker(workerId)"), step(LB, "evaluateWorkerCapabilities()"),
                   step(LB, "calculateWorkerLoad()"), reply(LB, TQ, "task selected"),
                   step(TQ, "assignTask(taskId, workerId)")),
        transition(T.START, S.ASSIGNED, S.RUNNING, "Resources allocated; the worker reports the start.",
                   call(W, RES, "allocateResources(task)"), step(RES, "createWorkspace()"),
                   step(RES, "setResourceLimits()"), reply(RES, W, "resources allocated"),
                   call(W, ORCH, "POST /api/v1/tasks/started"), call(ORCH, TQ, "updateTaskStatus(taskId, running)"),
                   call(ORCH, WS, "broadcastEvent(workflowId, TASK_STARTED)"), push(WS, CLI, "task started"),
                   reply(ORCH, W, "start acknowledged"), call(W, EXE, "executeTask(task)")),
        transition(T.ALLOCATION_FAILED, S.ASSIGNED, S.FAILED, "Resources could not be allocated: fail, do not start.",
                   reply(RES, W, "allocation failed"), call(W, ORCH, "POST /api/v1/tasks/failed"),
                   call(ORCH, TQ, "updateTaskStatus(taskId, failed)")),
        transition(T.PROGRESS, S.RUNNING, SAME, "Progress every ProgressPolicy.interval_s or on a milestone.",
                   call(W, ORCH, "POST /api/v1/tasks/progress"),
                   call(ORCH, TQ, "updateTaskProgress(taskId, progress)"),
                   call(ORCH, WS, "broadcastProgress(workflowId, progress)"), push(WS, CLI, "progress update")),
        transition(T.COMPLETE, S.RUNNING, S.COMPLETED, "The worker reports success.",
                   reply(EXE, W, "task result"), call(W, ORCH, "POST /api/v1/tasks/completed"),
                   call(ORCH, TQ, "updateTaskStatus(taskId, completed)"),
                   call(ORCH, WS, "broadcastEvent(workflowId, TASK_COMPLETED)"), push(WS, CLI, "task completed"),
                   *_RELEASE),
        transition(T.FAIL, S.RUNNING, S.FAILED, "The worker reports a classified error (error code in the body).",
                   reply(EXE, W, "task error"), call(W, ORCH, "POST /api/v1/tasks/failed {error}"),
                   call(ORCH, TQ, "updateTaskStatus(taskId, failed)"),
                   call(ORCH, WS, "broadcastEvent(workflowId, {error})"), push(WS, CLI, "task failed"), *_RELEASE),
        transition(T.TIME_OUT, S.RUNNING, S.FAILED, "ResourceLimits.max_duration_s exceeded: terminate, report.",
                   step(W, "terminateTask(timeout)"), call(W, ORCH, "POST /api/v1/tasks/failed {TIMEOUT}"),
                   call(ORCH, TQ, "updateTaskStatus(taskId, failed)"),
                   call(ORCH, WS, "broadcastEvent(workflowId, TASK_FAILED)"), push(WS, CLI, "task timed out"),
                   *_RELEASE),
        transition(T.INTERRUPT, S.RUNNING, S.INTERRUPTED, "Shutdown: stop gracefully, save state, report it.",
                   step(W, "gracefulTaskShutdown()"), call(W, RES, "cleanupResources(taskId)"),
                   step(RES, "saveTaskState()"), reply(RES, W, "resources cleaned"),
                   call(W, TQ, "reportTaskInterrupted(taskId)"), reply(TQ, W, "interruption recorded")),
        transition(T.REQUEUE, S.INTERRUPTED, S.QUEUED, "An interrupted task waits for another worker.",
                   step(TQ, "requeueTask(taskId)")),
        transition(T.LEASE_LOST, (S.ASSIGNED, S.RUNNING), S.QUEUED,
                   "Lease expired, or its worker went unhealthy or deregistered: re-queue; the old token is fenced.",
                   step(TQ, "revokeLease(taskId)"), step(TQ, "requeueTask(taskId)")),
        transition(T.RETRY, (S.ASSIGNED, S.RUNNING), S.QUEUED,
                   "A failure TaskRetryPolicy retries, with attempts left: re-queue, not before the backoff "
                   "delay; the old token is fenced.",
                   call(W, ORCH, "POST /api/v1/tasks/failed {error}"),
                   call(ORCH, TQ, "requeueTask(taskId, notBefore)"),
                   call(ORCH, WS, "broadcastEvent(workflowId, TASK_REQUEUED)"), push(WS, CLI, "task retrying")),
        transition(T.AWAIT_DEPENDENCIES, S.QUEUED, S.BLOCKED,
                   "Submitted with dependencies (dependsOn): it waits until they have completed.",
                   step(TQ, "holdTask(taskId, dependsOn)")),
        transition(T.RELEASE, S.BLOCKED, S.QUEUED, "Its last dependency completed: it joins the queue.",
                   step(ORCH, "releaseDependents(completedTaskId)"), call(ORCH, TQ, "enqueue(taskId)")),
        transition(T.SKIP, S.BLOCKED, S.SKIPPED,
                   "A dependency failed or was skipped (failurePolicy finish_independent): it will never run.",
                   step(ORCH, "skipDependents(failedTaskId)"), call(ORCH, TQ, "updateTaskStatus(taskId, skipped)"),
                   call(ORCH, WS, "broadcastEvent(workflowId, TASK_SKIPPED)"), push(WS, CLI, "task skipped")),
        transition(T.CANCEL, (S.QUEUED, S.BLOCKED, S.INTERRUPTED), S.CANCELLED,
                   "Its workflow was cancelled or failed fast: a waiting task, or one its worker "
                   "interrupted on request, is not (re-)queued.",
                   call(ORCH, TQ, "updateTaskStatus(taskId, cancelled)"),
                   call(ORCH, WS, "broadcastEvent(workflowId, TASK_CANCELLED)"), push(WS, CLI, "task cancelled")),
        transition(T.ABANDON, (S.ASSIGNED, S.RUNNING), S.CANCELLED,
                   "Its lease ended (expired, worker lost, interrupted before start) after its workflow was "
                   "over: not re-queued.",
                   step(TQ, "revokeLease(taskId)"), call(ORCH, TQ, "updateTaskStatus(taskId, cancelled)"),
                   call(ORCH, WS, "broadcastEvent(workflowId, TASK_CANCELLED)"), push(WS, CLI, "task cancelled")),
    ),
)

#: States in which a task holds a lease (the ones ``lease_lost`` takes it back from).
LEASED_STATES: frozenset[str] = frozenset(TASK_LIFECYCLE.transition_for(S.ASSIGNED, T.LEASE_LOST).source)
#: Triggers that settle a task in a terminal state (completed or failed), read off the table.
SETTLING_TRIGGERS: frozenset[str] = frozenset(
    t.trigger for t in TASK_LIFECYCLE.transitions if t.dest in {S.COMPLETED, S.FAILED}
)
#: Triggers that end an attempt: every transition out of a leased state into one that is not.
ATTEMPT_ENDING_TRIGGERS: frozenset[str] = frozenset(
    t.trigger for t in TASK_LIFECYCLE.transitions
    if set(t.source) & LEASED_STATES and not t.is_reflexive and t.dest not in LEASED_STATES
)
