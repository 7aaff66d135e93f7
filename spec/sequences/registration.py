"""Seed 4.2: worker registration, heartbeats, task assignment, health monitoring, deregistration."""

from __future__ import annotations

from spec.participants import (
    CAPABILITY_MANAGER,
    HEALTH_MONITOR,
    LOAD_BALANCER,
    ORCHESTRATOR,
    REGISTRATION_API,
    TASK_QUEUE,
    WEBSOCKET_SERVER,
    WORKER,
)
from spec.policies import DEFAULT_POLICIES
from spec.story import Note, Step, Story, alt, branch, happy_branch, loop

W, T = "worker_lifecycle", "task_lifecycle"
_HB = DEFAULT_POLICIES.heartbeat
_POLL = DEFAULT_POLICIES.poll
_PROGRESS = DEFAULT_POLICIES.progress

REGISTRATION_STORY = Story(
    name="worker_registration",
    title="Worker registration and task assignment",
    seed_section="4.2",
    description="A worker registers, heartbeats, polls and runs tasks; an unhealthy worker leaves rotation and "
    "its tasks are re-queued; finally it deregisters.",
    machines=(W, T),
    participants=(WORKER, ORCHESTRATOR, REGISTRATION_API, CAPABILITY_MANAGER, TASK_QUEUE, HEALTH_MONITOR,
                  LOAD_BALANCER, WEBSOCKET_SERVER),
    items=(
        Note("Worker Registration Flow", (WORKER, LOAD_BALANCER)),
        Step(W, "register"),
        alt(
            happy_branch("Capabilities valid", Step(W, "capabilities_accepted")),
            branch("Capabilities invalid", Step(W, "capabilities_rejected")),
        ),
        loop(f"Heartbeat Loop (every {_HB.interval_s:g} s)", Step(W, "heartbeat")),
        Note("Task Assignment Flow", (WORKER, LOAD_BALANCER)),
        loop(
            "Task Polling Loop",
            Step(W, "poll"),
            alt(
                happy_branch(
                    "Task Available",
                    Step(T, "assign"),
                    Step(W, "task_received"),
                    Step(T, "start"),
                    loop(f"Progress Reporting (every {_PROGRESS.interval_s:g} s or on a milestone)",
                         Step(T, "progress")),
                    Step(T, "complete"),
                    Step(W, "task_finished"),
                ),
                branch(f"No Task Available (back off {_POLL.min_interval_s:g} s up to {_POLL.max_interval_s:g} s)",
                       Step(W, "no_task_available")),
            ),
        ),
        Note("Worker Health Monitoring", (WORKER, LOAD_BALANCER)),
        loop("Health Check Loop", Step(W, "health_reported")),
        alt(
            branch("Worker Unhealthy", Step(W, "reported_unhealthy"), Step(T, "lease_lost"),
                   given={T: "running"}),
            branch(f"No heartbeat for {_HB.timeout_s:g} s", Step(W, "heartbeats_missed"), Step(T, "lease_lost"),
                   given={T: "running"}),
        ),
        alt(branch("Healthy heartbeat again", Step(W, "health_restored"))),
        Note("Worker Deregistration", (WORKER, LOAD_BALANCER)),
        Step(W, "deregister"),
    ),
)
