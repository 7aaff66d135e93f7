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

ORCH, CFG, DB, TQ, POOL, HTTP, WS, LOG, HC = (
    ORCHESTRATOR, CONFIG_MANAGER, DATABASE, TASK_QUEUE, WORKER_POOL, HTTP_SERVER, WEBSOCKET_SERVER, LOGGER,
    HEALTH_CHECKER,
)

_IN_PROGRESS = (
    "loading_config",
    "starting_logger",
    "starting_database",
    "starting_task_queue",
    "starting_worker_pool",
    "starting_http_server",
    "starting_websocket_server",
    "starting_health_checker",
    "binding_listener",
    "attaching_websocket",
    "running_health_checks",
)

STARTUP = MachineSpec(
    name="orchestrator_startup",
    title="Orchestrator startup",
    seed_section="4.1",
    description="Initialises the orchestrator's services in dependency order, opens the listener, "
    "runs startup health checks and reports ready, degraded or failed.",
    initial="stopped",
    states=(
        StateSpec("stopped", "Not started yet.", StateRole.RESTING),
        StateSpec("loading_config", "Loading and validating layered configuration.", service="config"),
        StateSpec("starting_logger", "Setting up log outputs and secret redactors.", service="logger"),
        StateSpec("starting_database", "Opening the pool, running migrations, validating the schema.",
                  service="database"),
        StateSpec("starting_task_queue", "Creating queue tables and indexes.", service="taskQueue"),
        StateSpec("starting_worker_pool", "Setting up the worker registry and health monitoring.",
                  service="workerPool"),
        StateSpec("starting_http_server", "Installing middleware and routes.", service="httpServer"),
        StateSpec("starting_websocket_server", "Installing WebSocket event handlers.", service="webSocketServer"),
        StateSpec("starting_health_checker", "Registering default checks.", service="healthChecker"),
        StateSpec("binding_listener", "Binding the HTTP listener to host and port."),
        StateSpec("attaching_websocket", "Attaching the WebSocket server to the listener."),
        StateSpec("running_health_checks", "Checking every service before declaring readiness."),
        StateSpec("running", "Serving requests; every service healthy.", StateRole.RESTING),
        StateSpec("degraded", "Serving requests; a startup health check reported a service unhealthy.",
                  StateRole.RESTING),
        StateSpec("failed", "Startup aborted; the process exits non-zero.", StateRole.TERMINAL),
    ),
    transitions=(
        transition("start", "stopped", "loading_config", "The process is asked to start.",
                   call(ADMIN, ORCH, "start()"), call(ORCH, CFG, "initialize()"),
                   step(CFG, "loadConfiguration()"), step(CFG, "validateConfiguration()")),
        transition("config_loaded", "loading_config", "starting_logger", "Configuration is valid.",
                   reply(CFG, ORCH, "config loaded"), call(ORCH, LOG, "initialize(config.logging)"),
                   step(LOG, "setupOutputs()"), step(LOG, "setupRedactors()")),
        transition("config_failed", "loading_config", "failed", "Configuration is missing or invalid: fail fast.",
                   reply(CFG, ORCH, "configuration error"), call(ORCH, LOG, 'error("Configuration failed")'),
                   reply(ORCH, ADMIN, "startup failed")),
        transition("logger_ready", "starting_logger", "starting_database", "Logging works.",
                   reply(LOG, ORCH, "logger ready"), call(ORCH, DB, "initialize(config.database)"),
                   step(DB, "createConnectionPool()"), step(DB, "runMigrations()"), step(DB, "validateSchema()")),
        transition("database_attempt_failed", "starting_database", "starting_database",
                   "A database attempt failed and attempts remain: back off and try again.",
                   reply(DB, ORCH, "connection failed"), step(ORCH, "wait(databaseBackoffDelay)"),
                   call(ORCH, DB, "initialize(config.database)")),
        transition("database_ready", "starting_database", "starting_task_queue", "Schema migrated and valid.",
                   reply(DB, ORCH, "database ready"), call(ORCH, TQ, "initialize(config.taskQueue)"),
                   call(TQ, DB, "createTables()"), step(TQ, "setupIndexes()")),
        transition("database_failed", "starting_database", "failed", "The last database attempt failed.",
                   reply(DB, ORCH, "database error"), call(ORCH, LOG, 'error("Database initialization failed")'),
                   reply(ORCH, ADMIN, "startup failed")),
        transition("task_queue_ready", "starting_task_queue", "starting_worker_pool", "Queue tables ready.",
                   reply(TQ, ORCH, "task queue ready"), call(ORCH, POOL, "initialize(config.workerPool)"),
                   step(POOL, "setupRegistry()"), step(POOL, "startHealthMonitoring()")),
        transition("task_queue_failed", "starting_task_queue", "failed", "A core service could not initialise.",
                   reply(TQ, ORCH, "task queue error"), call(ORCH, LOG, 'error("Task queue initialization failed")'),
                   reply(ORCH, ADMIN, "startup failed")),
        transition("worker_pool_ready", "starting_worker_pool", "starting_http_server", "Registry ready.",
                   reply(POOL, ORCH, "worker pool ready"), call(ORCH, HTTP, "initialize(config.server)"),
                   step(HTTP, "setupMiddleware()"), step(HTTP, "registerRoutes()")),
        transition("http_server_ready", "starting_http_server", "starting_websocket_server", "Routes installed.",
                   reply(HTTP, ORCH, "http server ready"), call(ORCH, WS, "initialize(config.websocket)"),
                   step(WS, "setupEventHandlers()")),
        transition("websocket_server_ready", "starting_websocket_server", "starting_health_checker",
                   "WebSocket handlers installed.",
                   reply(WS, ORCH, "websocket server ready"), call(ORCH, HC, "initialize(config.health)"),
                   step(HC, "addDefaultChecks()"), step(HC, "startMonitoring()")),
        transition("health_checker_ready", "starting_health_checker", "binding_listener", "Checks registered.",
                   reply(HC, ORCH, "health checker ready"), call(ORCH, HTTP, "listen(port, host)"),
                   step(HTTP, "startServer()")),
        transition("port_in_use", "binding_listener", "failed", "The port is taken: fail with a clear message.",
                   reply(HTTP, ORCH, "address already in use"), call(ORCH, LOG, 'error("Port already in use")'),
                   reply(ORCH, ADMIN, "startup failed")),
        transition("listening", "binding_listener", "attaching_websocket", "The listener accepts connections.",
                   reply(HTTP, ORCH, "server listening"), call(ORCH, WS, "attachToServer(httpServer)"),
                   step(WS, "startAcceptingConnections()")),
        transition("websocket_attached", "attaching_websocket", "running_health_checks", "WebSocket accepting.",
                   reply(WS, ORCH, "websocket active"), call(ORCH, HC, "runStartupHealthChecks()"),
                   call(HC, DB, "healthCheck()"), call(HC, TQ, "healthCheck()"), call(HC, POOL, "healthCheck()"),
                   call(HC, HTTP, "healthCheck()"), call(HC, WS, "healthCheck()")),
        transition("all_healthy", "running_health_checks", "running", "Every check passed.",
                   reply(HC, ORCH, "all healthy"), call(ORCH, LOG, 'info("Orchestrator started successfully")'),
                   reply(ORCH, ADMIN, "startup complete")),
        transition("service_degraded", "running_health_checks", "degraded",
                   "A check failed: keep serving, mark the service degraded.",
                   reply(HC, ORCH, "service unhealthy"), call(ORCH, LOG, 'warn("Service degraded")'),
                   reply(ORCH, ADMIN, "startup complete (degraded)")),
        transition("startup_timed_out", _IN_PROGRESS, "failed", "A phase or the whole startup exceeded its timeout.",
                   step(ORCH, "phaseTimeoutExpired()"), call(ORCH, LOG, 'error("Startup timed out")'),
                   reply(ORCH, ADMIN, "startup failed")),
    ),
)
