"""Seed 4.1: the orchestrator startup sequence, with every error branch."""

from __future__ import annotations

from spec.participants import (
    ADMIN,
    CONFIG_MANAGER,
    DATABASE,
    HEALTH_CHECKER,
    HTTP_SERVER,
    LOGGER,
    ORCHESTRATOR,
    TASK_QUEUE,
    WEBSOCKET_SERVER,
    WORKER_POOL,
)
from spec.policies import DEFAULT_POLICIES
from spec.story import Note, Step, Story, alt, branch, happy_branch, steps

M = "orchestrator_startup"
_P = DEFAULT_POLICIES.startup
_DELAYS = ", ".join(f"{d:g} s" for d in _P.database_retry_delays_s())

STARTUP_STORY = Story(
    name="orchestrator_startup",
    title="Orchestrator startup",
    seed_section="4.1",
    description="Services start in dependency order; health checks gate readiness; every failure is reported.",
    machines=(M,),
    participants=(ADMIN, ORCHESTRATOR, CONFIG_MANAGER, DATABASE, TASK_QUEUE, WORKER_POOL, HTTP_SERVER,
                  WEBSOCKET_SERVER, LOGGER, HEALTH_CHECKER),
    items=(
        Note("Orchestrator Startup Sequence", (ADMIN, HEALTH_CHECKER)),
        *steps(M, "start", "config_loaded", "logger_ready"),
        alt(branch(f"Database attempt failed, attempts remain ({_P.database_attempts} attempts, delays {_DELAYS})",
                   Step(M, "database_attempt_failed"))),
        *steps(M, "database_ready", "task_queue_ready", "worker_pool_ready", "http_server_ready",
               "websocket_server_ready", "health_checker_ready", "listening", "websocket_attached"),
        alt(
            happy_branch("All services healthy", Step(M, "all_healthy")),
            branch("A service reports unhealthy", Step(M, "service_degraded")),
        ),
        Note("Error Handling During Startup", (ADMIN, HEALTH_CHECKER)),
        alt(
            branch("Configuration Error", Step(M, "config_failed"), given={M: "loading_config"}),
            branch(f"Database Error (after {_P.database_attempts} attempts)", Step(M, "database_failed"),
                   given={M: "starting_database"}),
            branch("Service Error", Step(M, "task_queue_failed"), given={M: "starting_task_queue"}),
            branch("Port Conflict", Step(M, "port_in_use"), given={M: "binding_listener"}),
            branch(f"Phase timeout (config {_P.config_timeout_s:g} s, database {_P.database_timeout_s:g} s, "
                   f"services {_P.services_timeout_s:g} s, health {_P.health_check_timeout_s:g} s, "
                   f"total {_P.total_timeout_s:g} s)",
                   Step(M, "startup_timed_out"), given={M: "starting_database"}),
        ),
    ),
)
