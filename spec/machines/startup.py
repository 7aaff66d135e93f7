"""Orchestrator startup (seed 4.1 and the "Orchestrator Startup Workflow").

Services start one at a time in the order fixed by `spec.services`; each ``starting_*`` state
names the service it initialises so `spec.checks` can verify the order. Departures from the
seed's diagram, all documented in docs/departures.md:

* the database gets up to ``StartupPolicy.database_attempts`` attempts with backoff
  (``database_attempt_failed``), as the seed's workflow text asks but its diagram omits;
* a port conflict fails startup with a clear message (workflow text, not in the diagram);
* a failing *startup health check* leaves the orchestrator ``degraded`` rather than failed,
  reconciling the diagram ("Service Error → startup failed") with the text ("Service errors:
  continue startup, mark service as degraded"): a service that cannot initialise fails startup,
  a service that initialised but is unhealthy degrades it;
* any phase exceeding its ``StartupPolicy`` timeout fails startup (``startup_timed_out``).
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, reply, step
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


class StartupState(StrEnum):
    """The orchestrator_startup machine's states, named once for its table and every consumer."""

    STOPPED = "stopped"
    LOADING_CONFIG = "loading_config"
    STARTING_LOGGER = "starting_logger"
    STARTING_DATABASE = "starting_database"
    STARTING_TASK_QUEUE = "starting_task_queue"
    STARTING_WORKER_POOL = "starting_worker_pool"
    STARTING_HTTP_SERVER = "starting_http_server"
    STARTING_WEBSOCKET_SERVER = "starting_websocket_server"
    STARTING_HEALTH_CHECKER = "starting_health_checker"
    BINDING_LISTENER = "binding_listener"
    ATTACHING_WEBSOCKET = "attaching_websocket"
    RUNNING_HEALTH_CHECKS = "running_health_checks"
    RUNNING = "running"
    DEGRADED = "degraded"
    FAILED = "failed"


class StartupTrigger(StrEnum):
    """The orchestrator_startup machine's triggers, named once for its table and every consumer."""

    START = "start"
    CONFIG_LOADED = "config_loaded"
    CONFIG_FAILED = "config_failed"
    LOGGER_READY = "logger_ready"
    DATABASE_ATTEMPT_FAILED = "database_attempt_failed"
    DATABASE_READY = "database_ready"
    DATABASE_FAILED = "database_failed"
    TASK_QUEUE_READY = "task_queue_ready"
    TASK_QUEUE_FAILED = "task_queue_failed"
    WORKER_POOL_READY = "worker_pool_ready"
    HTTP_SERVER_READY = "http_server_ready"
    WEBSOCKET_SERVER_READY = "websocket_server_ready"
    HEALTH_CHECKER_READY = "health_checker_ready"
    PORT_IN_USE = "port_in_use"
    LISTENING = "listening"
    WEBSOCKET_ATTACHED = "websocket_attached"
    ALL_HEALTHY = "all_healthy"
    SERVICE_DEGRADED = "service_degraded"
    STARTUP_TIMED_OUT = "startup_timed_out"


S, T = StartupState, StartupTrigger

ORCH, CFG, DB, TQ, POOL, HTTP, WS, LOG, HC = (
    ORCHESTRATOR, CONFIG_MANAGER, DATABASE, TASK_QUEUE, WORKER_POOL, HTTP_SERVER, WEBSOCKET_SERVER, LOGGER,
    HEALTH_CHECKER,
)

_IN_PROGRESS = (
    S.LOADING_CONFIG,
    S.STARTING_LOGGER,
    S.STARTING_DATABASE,
    S.STARTING_TASK_QUEUE,
    S.STARTING_WORKER_POOL,
    S.STARTING_HTTP_SERVER,
    S.STARTING_WEBSOCKET_SERVER,
    S.STARTING_HEALTH_CHECKER,
    S.BINDING_LISTENER,
    S.ATTACHING_WEBSOCKET,
    S.RUNNING_HEALTH_CHECKS,
)

STARTUP = MachineSpec(
    name="orchestrator_startup",
    title="Orchestrator startup",
    seed_section="4.1",
    description="Initialises the orchestrator's services in dependency order, opens the listener, "
    "runs startup health checks and reports ready, degraded or failed.",
    initial=S.STOPPED,
    states=(
        StateSpec(S.STOPPED, "Not started yet.", StateRole.RESTING),
        StateSpec(S.LOADING_CONFIG, "Loading and validating layered configuration.", service="config"),
        StateSpec(S.STARTING_LOGGER, "Setting up log outputs and secret redactors.", service="logger"),
        StateSpec(S.STARTING_DATABASE, "Opening the pool, running migrations, validating the schema.",
                  service="database"),
        StateSpec(S.STARTING_TASK_QUEUE, "Creating queue tables and indexes.", service="taskQueue"),
        StateSpec(S.STARTING_WORKER_POOL, "Setting up the worker registry and health monitoring.",
                  service="workerPool"),
        StateSpec(S.STARTING_HTTP_SERVER, "Installing middleware and routes.", service="httpServer"),
        StateSpec(S.STARTING_WEBSOCKET_SERVER, "Installing WebSocket event handlers.", service="webSocketServer"),
        StateSpec(S.STARTING_HEALTH_CHECKER, "Registering default checks.", service="healthChecker"),
        StateSpec(S.BINDING_LISTENER, "Binding the HTTP listener to host and port."),
        StateSpec(S.ATTACHING_WEBSOCKET, "Attaching the WebSocket server to the listener."),
        StateSpec(S.RUNNING_HEALTH_CHECKS, "Checking every service before declaring readiness."),
        StateSpec(S.RUNNING, "Serving requests; every service healthy.", StateRole.RESTING),
        StateSpec(S.DEGRADED, "Serving requests; a startup health check reported a service unhealthy.",
                  StateRole.RESTING),
        StateSpec(S.FAILED, "Startup aborted; the process exits non-zero.", StateRole.TERMINAL),
    ),
    transitions=(
        transition(T.START, S.STOPPED, S.LOADING_CONFIG, "The process is asked to start.",
                   call(ADMIN, ORCH, "start()"), call(ORCH, CFG, "initialize()"),
                   step(CFG, "loadConfiguration()"), step(CFG, "validateConfiguration()")),
        transition(T.CONFIG_LOADED, S.LOADING_CONFIG, S.STARTING_LOGGER, "Configuration is valid.",
                   reply(CFG, ORCH, "config loaded"), call(ORCH, LOG, "initialize(config.logging)"),
                   step(LOG, "setupOutputs()"), step(LOG, "setupRedactors()")),
        transition(T.CONFIG_FAILED, S.LOADING_CONFIG, S.FAILED, "Configuration is missing or invalid: fail fast.",
                   reply(CFG, ORCH, "configuration error"), call(ORCH, LOG, 'error("Configuration failed")'),
                   reply(ORCH, ADMIN, "startup failed")),
        transition(T.LOGGER_READY, S.STARTING_LOGGER, S.STARTING_DATABASE, "Logging works.",
                   reply(LOG, ORCH, "logger ready"), call(ORCH, DB, "initialize(config.database)"),
                   step(DB, "createConnectionPool()"), step(DB, "runMigrations()"), step(DB, "validateSchema()")),
        transition(T.DATABASE_ATTEMPT_FAILED, S.STARTING_DATABASE, S.STARTING_DATABASE,
                   "A database attempt failed and attempts remain: back off and try again.",
                   reply(DB, ORCH, "connection failed"), step(ORCH, "wait(databaseBackoffDelay)"),
                   call(ORCH, DB, "initialize(config.database)")),
        transition(T.DATABASE_READY, S.STARTING_DATABASE, S.STARTING_TASK_QUEUE, "Schema migrated and valid.",
                   reply(DB, ORCH, "database ready"), call(ORCH, TQ, "initialize(config.taskQueue)"),
                   call(TQ, DB, "createTables()"), step(TQ, "setupIndexes()")),
        transition(T.DATABASE_FAILED, S.STARTING_DATABASE, S.FAILED, "The last database attempt failed.",
                   reply(DB, ORCH, "database error"), call(ORCH, LOG, 'error("Database initialization failed")'),
                   reply(ORCH, ADMIN, "startup failed")),
        transition(T.TASK_QUEUE_READY, S.STARTING_TASK_QUEUE, S.STARTING_WORKER_POOL, "Queue tables ready.",
                   reply(TQ, ORCH, "task queue ready"), call(ORCH, POOL, "initialize(config.workerPool)"),
                   step(POOL, "setupRegistry()"), step(POOL, "startHealthMonitoring()")),
        transition(T.TASK_QUEUE_FAILED, S.STARTING_TASK_QUEUE, S.FAILED, "A core service could not initialise.",
                   reply(TQ, ORCH, "task queue error"), call(ORCH, LOG, 'error("Task queue initialization failed")'),
                   reply(ORCH, ADMIN, "startup failed")),
        transition(T.WORKER_POOL_READY, S.STARTING_WORKER_POOL, S.STARTING_HTTP_SERVER, "Registry ready.",
                   reply(POOL, ORCH, "worker pool ready"), call(ORCH, HTTP, "initialize(config.server)"),
                   step(HTTP, "setupMiddleware()"), step(HTTP, "registerRoutes()")),
        transition(T.HTTP_SERVER_READY, S.STARTING_HTTP_SERVER, S.STARTING_WEBSOCKET_SERVER, "Routes installed.",
                   reply(HTTP, ORCH, "http server ready"), call(ORCH, WS, "initialize(config.websocket)"),
                   step(WS, "setupEventHandlers()")),
        transition(T.WEBSOCKET_SERVER_READY, S.STARTING_WEBSOCKET_SERVER, S.STARTING_HEALTH_CHECKER,
                   "WebSocket handlers installed.",
                   reply(WS, ORCH, "websocket server ready"), call(ORCH, HC, "initialize(config.health)"),
                   step(HC, "addDefaultChecks()"), step(HC, "startMonitoring()")),
        transition(T.HEALTH_CHECKER_READY, S.STARTING_HEALTH_CHECKER, S.BINDING_LISTENER, "Checks registered.",
                   reply(HC, ORCH, "health checker ready"), call(ORCH, HTTP, "listen(port, host)"),
                   step(HTTP, "startServer()")),
        transition(T.PORT_IN_USE, S.BINDING_LISTENER, S.FAILED, "The port is taken: fail with a clear message.",
                   reply(HTTP, ORCH, "address already in use"), call(ORCH, LOG, 'error("Port already in use")'),
                   reply(ORCH, ADMIN, "startup failed")),
        transition(T.LISTENING, S.BINDING_LISTENER, S.ATTACHING_WEBSOCKET, "The listener accepts connections.",
                   reply(HTTP, ORCH, "server listening"), call(ORCH, WS, "attachToServer(httpServer)"),
                   step(WS, "startAcceptingConnections()")),
        transition(T.WEBSOCKET_ATTACHED, S.ATTACHING_WEBSOCKET, S.RUNNING_HEALTH_CHECKS, "WebSocket accepting.",
                   reply(WS, ORCH, "websocket active"), call(ORCH, HC, "runStartupHealthChecks()"),
                   call(HC, DB, "healthCheck()"), call(HC, TQ, "healthCheck()"), call(HC, POOL, "healthCheck()"),
                   call(HC, HTTP, "healthCheck()"), call(HC, WS, "healthCheck()")),
        transition(T.ALL_HEALTHY, S.RUNNING_HEALTH_CHECKS, S.RUNNING, "Every check passed.",
                   reply(HC, ORCH, "all healthy"), call(ORCH, LOG, 'info("Orchestrator started successfully")'),
                   reply(ORCH, ADMIN, "startup complete")),
        transition(T.SERVICE_DEGRADED, S.RUNNING_HEALTH_CHECKS, S.DEGRADED,
                   "A check failed: keep serving, mark the service degraded.",
                   reply(HC, ORCH, "service unhealthy"), call(ORCH, LOG, 'warn("Service degraded")'),
                   reply(ORCH, ADMIN, "startup complete (degraded)")),
        transition(T.STARTUP_TIMED_OUT, _IN_PROGRESS, S.FAILED, "A phase or the whole startup exceeded its timeout.",
                   step(ORCH, "phaseTimeoutExpired()"), call(ORCH, LOG, 'error("Startup timed out")'),
                   reply(ORCH, ADMIN, "startup failed")),
    ),
)
