"""Seed 4.4: graceful shutdown of the orchestrator and of a worker, and recovery after a crash."""

from __future__ import annotations

from spec.participants import (
    ADMIN,
    DATABASE,
    HTTP_SERVER,
    ORCHESTRATOR,
    REGISTRATION_API,
    RESOURCE_MANAGER,
    TASK_QUEUE,
    WEBSOCKET_SERVER,
    WORKER,
)
from spec.policies import DEFAULT_POLICIES
from spec.story import Note, Step, Story, alt, branch, happy_branch, loop, steps

OS, WS, T, WL = "orchestrator_shutdown", "worker_shutdown", "task_lifecycle", "worker_lifecycle"
OR, WR = "orchestrator_recovery", "worker_recovery"
_SD = DEFAULT_POLICIES.shutdown

ORCHESTRATOR_SHUTDOWN_STORY = Story(
    name="orchestrator_shutdown",
    title="Orchestrator graceful shutdown",
    seed_section="4.4",
    description="Stop intake, drain running work up to a deadline, notify clients, close services in reverse order.",
    machines=(OS, T),
    given={T: "running"},
    participants=(ADMIN, ORCHESTRATOR, WORKER, TASK_QUEUE, HTTP_SERVER, WEBSOCKET_SERVER, DATABASE),
    items=(
        Note("Orchestrator Graceful Shutdown", (ADMIN, DATABASE)),
        *steps(OS, "stop", "queue_paused", "http_draining", "websockets_refused"),
        alt(happy_branch("Active Workflows Exist",
                   loop(f"Wait for Workflows (every {_SD.check_interval_s:g} s)",
                        Step(OS, "workflows_still_running")))),
        Step(OS, "workflows_settled"),
        alt(
            happy_branch(f"Tasks finish within the drain deadline ({_SD.drain_deadline_s:g} s)",
                   loop(f"Wait for Tasks (every {_SD.check_interval_s:g} s)", Step(OS, "tasks_still_running")),
                   Step(T, "complete"),
                   Step(OS, "tasks_finished")),
            branch(f"Drain deadline reached (cancellation grace {_SD.cancel_grace_s:g} s)",
                   Step(OS, "drain_deadline_reached"), Step(T, "interrupt"), Step(OS, "tasks_interrupted"),
                   Step(T, "requeue")),
        ),
        *steps(OS, "notify_clients", "websockets_closed", "http_stopped", "queue_stopped", "database_closed"),
        Note("Force Termination", (ADMIN, DATABASE)),
        alt(branch("Second stop signal", Step(OS, "force_stop"), given={OS: "awaiting_tasks"})),
    ),
)

WORKER_SHUTDOWN_STORY = Story(
    name="worker_shutdown",
    title="Worker graceful shutdown",
    seed_section="4.4",
    description="Stop polling, settle the current task, deregister, clean up, stop background loops.",
    machines=(WS, WL, T),
    given={WL: "busy", T: "running"},
    participants=(ADMIN, WORKER, ORCHESTRATOR, REGISTRATION_API, TASK_QUEUE, RESOURCE_MANAGER),
    items=(
        Note("Worker Graceful Shutdown", (ADMIN, RESOURCE_MANAGER)),
        Step(WS, "stop"),
        alt(
            happy_branch(f"Current task finishes within {_SD.worker_task_deadline_s:g} s",
                   Step(WS, "task_in_progress"), Step(T, "complete"), Step(WL, "task_finished"),
                   Step(WS, "task_finished")),
            branch("Task deadline reached",
                   Step(WS, "task_in_progress"), Step(WS, "task_deadline_reached"), Step(T, "interrupt"),
                   Step(WL, "task_finished"), Step(WS, "task_interrupted")),
            branch("No Current Task", Step(WS, "no_current_task"), given={WL: "idle"}),
        ),
        Step(WL, "deregister"),
        *steps(WS, "deregistered", "cleaned", "services_stopped"),
        Note("Force Termination", (ADMIN, RESOURCE_MANAGER)),
        alt(branch("Second stop signal", Step(WS, "force_stop"), given={WS: "finishing_task"})),
    ),
)

ORCHESTRATOR_RECOVERY_STORY = Story(
    name="orchestrator_recovery",
    title="Orchestrator recovery after an unexpected stop",
    seed_section="4.4",
    description="Roll back, re-queue orphaned tasks, resume workflows.",
    machines=(OR, T),
    given={T: "running"},
    participants=(ADMIN, ORCHESTRATOR, DATABASE, TASK_QUEUE),
    items=(
        Note("Orchestrator Recovery", (ORCHESTRATOR, TASK_QUEUE)),
        *steps(OR, "restart", "database_restored"),
        alt(happy_branch("Task leased to a worker that is gone", Step(T, "lease_lost"))),
        *steps(OR, "queue_recovered", "workflows_resumed"),
        alt(branch("Database unreachable", Step(OR, "recovery_error"), given={OR: "restoring_database"})),
    ),
)

WORKER_RECOVERY_STORY = Story(
    name="worker_recovery",
    title="Worker recovery after an unexpected stop",
    seed_section="4.4",
    description="Clean leftovers, register again, hand back or resume interrupted tasks.",
    machines=(WR,),
    participants=(WORKER, REGISTRATION_API, TASK_QUEUE, RESOURCE_MANAGER),
    items=(
        Note("Worker Recovery", (WORKER, RESOURCE_MANAGER)),
        *steps(WR, "restart", "workspaces_restored"),
        alt(
            happy_branch("Registration accepted", *steps(WR, "registered", "interrupted_tasks_resumed")),
            branch("Registration refused", Step(WR, "registration_failed")),
        ),
    ),
)
