"""Recovery after an unexpected stop (seed 4.4, "Recovery After Unexpected Shutdown").

Precision added to the seed: a restarted worker cannot "resume" a task whose lease the
orchestrator has since re-queued. ``resume_interrupted_tasks`` therefore reports each
interrupted task it finds on disk; the orchestrator re-queues it (fencing the old lease),
and only a task whose lease this worker still holds is resumed in place.
"""

from __future__ import annotations

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

ORCH, DB, TQ, LOG, W, RES, REG = ORCHESTRATOR, DATABASE, TASK_QUEUE, LOGGER, WORKER, RESOURCE_MANAGER, REGISTRATION_API

ORCHESTRATOR_RECOVERY = MachineSpec(
    name="orchestrator_recovery",
    title="Orchestrator recovery",
    seed_section="4.4",
    description="After a crash: roll back incomplete transactions, reset orphaned tasks, resume workflows.",
    initial="crashed",
    states=(
        StateSpec("crashed", "The previous process died without a clean shutdown.", StateRole.RESTING),
        StateSpec("restoring_database", "Rolling back transactions the crash left open."),
        StateSpec("recovering_queue", "Re-queueing tasks leased to workers that are gone or silent."),
        StateSpec("restoring_workflows", "Rebuilding in-memory workflow state from the database."),
        StateSpec("recovered", "Serving again with nothing acknowledged lost.", StateRole.TERMINAL),
        StateSpec("recovery_failed", "Recovery could not complete; the process exits non-zero.", StateRole.TERMINAL),
    ),
    transitions=(
        transition("restart", "crashed", "restoring_database", "The process starts on the same database.",
                   step(ORCH, "start()"), call(ORCH, DB, "initialize()"), step(DB, "checkForIncompleteTransactions()"),
                   step(DB, "rollbackIncompleteTransactions()")),
        transition("database_restored", "restoring_database", "recovering_queue", "The database is consistent.",
                   reply(DB, ORCH, "database ready"), call(ORCH, TQ, "initialize()"),
                   step(TQ, "checkForOrphanedTasks()"), step(TQ, "resetOrphanedTasks()")),
        transition("queue_recovered", "recovering_queue", "restoring_workflows", "Orphans are queued again.",
                   reply(TQ, ORCH, "queue ready"), step(ORCH, "checkForInterruptedWorkflows()"),
                   step(ORCH, "restoreWorkflowStates()")),
        transition("workflows_resumed", "restoring_workflows", "recovered", "Workflows continue.",
                   step(ORCH, "resumeWorkflows()")),
        transition("recovery_error", ("restoring_database", "recovering_queue", "restoring_workflows"),
                   "recovery_failed", "The database is unreachable or inconsistent.",
                   call(ORCH, LOG, 'error("Recovery failed")'), reply(ORCH, ADMIN, "recovery failed")),
    ),
)

WORKER_RECOVERY = MachineSpec(
    name="worker_recovery",
    title="Worker recovery",
    seed_section="4.4",
    description="After a crash: clean incomplete workspaces, register again, hand back or resume interrupted tasks.",
    initial="crashed",
    states=(
        StateSpec("crashed", "The previous worker process died.", StateRole.RESTING),
        StateSpec("inspecting_workspaces", "Looking for workspaces the crash left behind."),
        StateSpec("registering", "Registering again with the orchestrator."),
        StateSpec("checking_interrupted_tasks", "Finding tasks that were running at the crash."),
        StateSpec("recovered", "Back in rotation.", StateRole.TERMINAL),
        StateSpec("recovery_failed", "Could not register again; the process exits non-zero.", StateRole.TERMINAL),
    ),
    transitions=(
        transition("restart", "crashed", "inspecting_workspaces", "The worker process starts again.",
                   step(W, "start()"), call(W, RES, "checkForIncompleteWorkspaces()"),
                   step(RES, "cleanupIncompleteWorkspaces()"), step(RES, "restoreTaskStates()")),
        transition("workspaces_restored", "inspecting_workspaces", "registering", "Leftovers cleaned.",
                   reply(RES, W, "resources ready"), call(W, REG, "POST /api/v1/workers/register"),
                   call(REG, TQ, "registerWorker()")),
        transition("registered", "registering", "checking_interrupted_tasks", "The orchestrator knows it again.",
                   reply(REG, W, "registration successful"), step(W, "checkForInterruptedTasks()")),
        transition("registration_failed", "registering", "recovery_failed", "The orchestrator refused or is gone.",
                   reply(REG, W, "registration failed")),
        transition("interrupted_tasks_resumed", "checking_interrupted_tasks", "recovered",
                   "Tasks still leased to it resume; the others are reported interrupted and re-queued.",
                   step(W, "resumeInterruptedTasks()")),
    ),
)
