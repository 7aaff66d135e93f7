"""Recovery after an unexpected stop (seed 4.4, "Recovery After Unexpected Shutdown").

Precision added to the seed: a restarted worker cannot "resume" a task whose lease the
orchestrator has since re-queued. ``resume_interrupted_tasks`` therefore reports each
interrupted task it finds on disk; the orchestrator re-queues it (fencing the old lease),
and only a task whose lease this worker still holds is resumed in place.
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, reply, step
from spec.participants import (
    ADMIN,
    DATABASE,
    LOGGER,
    ORCHESTRATOR,
    REGISTRATION_API,
    RESOURCE_MANAGER,
    TASK_QUEUE,
    WORKER,
)


class OrchestratorRecoveryState(StrEnum):
    """The orchestrator_recovery machine's states, named once for its table and every consumer."""

    CRASHED = "crashed"
    RESTORING_DATABASE = "restoring_database"
    RECOVERING_QUEUE = "recovering_queue"
    RESTORING_WORKFLOWS = "restoring_workflows"
    RECOVERED = "recovered"
    RECOVERY_FAILED = "recovery_failed"


class OrchestratorRecoveryTrigger(StrEnum):
    """The orchestrator_recovery machine's triggers, named once for its table and every consumer."""

    RESTART = "restart"
    DATABASE_RESTORED = "database_restored"
    QUEUE_RECOVERED = "queue_recovered"
    WORKFLOWS_RESUMED = "workflows_resumed"
    RECOVERY_ERROR = "recovery_error"


class WorkerRecoveryState(StrEnum):
    """The worker_recovery machine's states, named once for its table and every consumer."""

    CRASHED = "crashed"
    INSPECTING_WORKSPACES = "inspecting_workspaces"
    REGISTERING = "registering"
    CHECKING_INTERRUPTED_TASKS = "checking_interrupted_tasks"
    RECOVERED = "recovered"
    RECOVERY_FAILED = "recovery_failed"


class WorkerRecoveryTrigger(StrEnum):
    """The worker_recovery machine's triggers, named once for its table and every consumer."""

    RESTART = "restart"
    WORKSPACES_RESTORED = "workspaces_restored"
    REGISTERED = "registered"
    REGISTRATION_FAILED = "registration_failed"
    INTERRUPTED_TASKS_RESUMED = "interrupted_tasks_resumed"


OS, OT = OrchestratorRecoveryState, OrchestratorRecoveryTrigger
KS, KT = WorkerRecoveryState, WorkerRecoveryTrigger

ORCH, DB, TQ, LOG, W, RES, REG = ORCHESTRATOR, DATABASE, TASK_QUEUE, LOGGER, WORKER, RESOURCE_MANAGER, REGISTRATION_API

ORCHESTRATOR_RECOVERY = MachineSpec(
    name="orchestrator_recovery",
    title="Orchestrator recovery",
    seed_section="4.4",
    description="After a crash: roll back incomplete transactions, reset orphaned tasks, resume workflows.",
    initial=OS.CRASHED,
    states=(
        StateSpec(OS.CRASHED, "The previous process died without a clean shutdown.", StateRole.RESTING),
        StateSpec(OS.RESTORING_DATABASE, "Rolling back transactions the crash left open."),
        StateSpec(OS.RECOVERING_QUEUE, "Re-queueing tasks leased to workers that are gone or silent."),
        StateSpec(OS.RESTORING_WORKFLOWS, "Rebuilding in-memory workflow state from the database."),
        StateSpec(OS.RECOVERED, "Serving again with nothing acknowledged lost.", StateRole.TERMINAL),
        StateSpec(OS.RECOVERY_FAILED, "Recovery could not complete; the process exits non-zero.", StateRole.TERMINAL),
    ),
    transitions=(
        transition(OT.RESTART, OS.CRASHED, OS.RESTORING_DATABASE, "The process starts on the same database.",
                   step(ORCH, "start()"), call(ORCH, DB, "initialize()"), step(DB, "checkForIncompleteTransactions()"),
                   step(DB, "rollbackIncompleteTransactions()")),
        transition(OT.DATABASE_RESTORED, OS.RESTORING_DATABASE, OS.RECOVERING_QUEUE, "The database is consistent.",
                   reply(DB, ORCH, "database ready"), call(ORCH, TQ, "initialize()"),
                   step(TQ, "checkForOrphanedTasks()"), step(TQ, "resetOrphanedTasks()")),
        transition(OT.QUEUE_RECOVERED, OS.RECOVERING_QUEUE, OS.RESTORING_WORKFLOWS, "Orphans are queued again.",
                   reply(TQ, ORCH, "queue ready"), step(ORCH, "checkForInterruptedWorkflows()"),
                   step(ORCH, "restoreWorkflowStates()")),
        transition(OT.WORKFLOWS_RESUMED, OS.RESTORING_WORKFLOWS, OS.RECOVERED, "Workflows continue.",
                   step(ORCH, "resumeWorkflows()")),
        transition(OT.RECOVERY_ERROR, (OS.RESTORING_DATABASE, OS.RECOVERING_QUEUE, OS.RESTORING_WORKFLOWS),
                   OS.RECOVERY_FAILED, "The database is unreachable or inconsistent.",
                   call(ORCH, LOG, 'error("Recovery failed")'), reply(ORCH, ADMIN, "recovery failed")),
    ),
)

WORKER_RECOVERY = MachineSpec(
    name="worker_recovery",
    title="Worker recovery",
    seed_section="4.4",
    description="After a crash: clean incomplete workspaces, register again, hand back or resume interrupted tasks.",
    initial=KS.CRASHED,
    states=(
        StateSpec(KS.CRASHED, "The previous worker process died.", StateRole.RESTING),
        StateSpec(KS.INSPECTING_WORKSPACES, "Looking for workspaces the crash left behind."),
        StateSpec(KS.REGISTERING, "Registering again with the orchestrator."),
        StateSpec(KS.CHECKING_INTERRUPTED_TASKS, "Finding tasks that were running at the crash."),
        StateSpec(KS.RECOVERED, "Back in rotation.", StateRole.TERMINAL),
        StateSpec(KS.RECOVERY_FAILED, "Could not register again; the process exits non-zero.", StateRole.TERMINAL),
    ),
    transitions=(
        transition(KT.RESTART, KS.CRASHED, KS.INSPECTING_WORKSPACES, "The worker process starts again.",
                   step(W, "start()"), call(W, RES, "checkForIncompleteWorkspaces()"),
                   step(RES, "cleanupIncompleteWorkspaces()"), step(RES, "restoreTaskStates()")),
        transition(KT.WORKSPACES_RESTORED, KS.INSPECTING_WORKSPACES, KS.REGISTERING, "Leftovers cleaned.",
                   reply(RES, W, "resources ready"), call(W, REG, "POST /api/v1/workers/register"),
                   call(REG, TQ, "registerWorker()")),
        transition(KT.REGISTERED, KS.REGISTERING, KS.CHECKING_INTERRUPTED_TASKS, "The orchestrator knows it again.",
                   reply(REG, W, "registration successful"), step(W, "checkForInterruptedTasks()")),
        transition(KT.REGISTRATION_FAILED, KS.REGISTERING, KS.RECOVERY_FAILED, "The orchestrator refused or is gone.",
                   reply(REG, W, "registration failed")),
        transition(KT.INTERRUPTED_TASKS_RESUMED, KS.CHECKING_INTERRUPTED_TASKS, KS.RECOVERED,
                   "Tasks still leased to it resume; the others are reported interrupted and re-queued.",
                   step(W, "resumeInterruptedTasks()")),
    ),
)
