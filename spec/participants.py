"""Every participant that appears in the seed's sequence diagrams, declared exactly once.

The seed (`000_0e18ffa27de79e7a.txt`) uses short aliases (`Orch`, `TaskQ`, `LB`) and in 4.3
sends messages to `TaskQ` and `LB` without declaring them. Here each participant has one stable
``id`` (used in traces, Mermaid and scenario files) and one display ``name`` (used in docs), so a
diagram can never name a participant that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from spec.errors import UnknownParticipantError


@dataclass(frozen=True, order=True)
class Participant:
    """One actor in the system: a process, a subsystem of the orchestrator, or an external service."""

    id: str
    name: str
    description: str = ""


ADMIN = Participant("admin", "Admin/Process", "The operator or process supervisor that starts and stops things.")
ORCHESTRATOR = Participant("orchestrator", "Orchestrator", "The central process that owns workflows and the queue.")
CONFIG_MANAGER = Participant("config_manager", "Config Manager", "Loads and validates layered configuration.")
DATABASE = Participant("database", "Database", "Durable store for tasks, workers and workflows.")
TASK_QUEUE = Participant("task_queue", "Task Queue", "Priority queue with leases; also the worker registry.")
WORKER_POOL = Participant("worker_pool", "Worker Pool", "The orchestrator's view of registered workers.")
HTTP_SERVER = Participant("http_server", "HTTP Server", "Serves the REST API.")
WEBSOCKET_SERVER = Participant("websocket_server", "WebSocket Server", "Streams events to subscribed clients.")
LOGGER = Participant("logger", "Logger", "Structured, redacting log output.")
HEALTH_CHECKER = Participant("health_checker", "Health Checker", "Orchestrator-side liveness/readiness checks.")
WORKER = Participant("worker", "Worker", "A process that polls for tasks and executes them.")
REGISTRATION_API = Participant("registration_api", "Registration API", "The worker-facing endpoints of the HTTP API.")
CAPABILITY_MANAGER = Participant("capability_manager", "Capability Manager", "Validates declared capabilities.")
LOAD_BALANCER = Participant("load_balancer", "Load Balancer", "Chooses which queued task a polling worker gets.")
HEALTH_MONITOR = Participant("health_monitor", "Health Monitor", "Worker-side heartbeat and self-check loop.")
CLIENT = Participant("client", "Client/UI", "A user or program that submits workflows and watches them.")
TASK_EXECUTOR = Participant("task_executor", "Task Executor", "Runs one task's handler inside a worker.")
RESOURCE_MANAGER = Participant("resource_manager", "Resource Manager", "Workspaces and per-task resource limits.")
GIT_PLATFORM = Participant("git_platform", "Git Platform", "Issues, branches, pushes and pull requests.")
AI_PROVIDER = Participant("ai_provider", "AI Provider", "Analyses issues and generates code.")
QUALITY_GATES = Participant("quality_gates", "Quality Gates", "Runs build and test commands.")
SERVICE = Participant("service", "Service", "Any external service called through the resilience layer.")
CIRCUIT_BREAKER = Participant("circuit_breaker", "Circuit Breaker", "Fails fast while a service is unhealthy.")
RETRY_HANDLER = Participant("retry_handler", "Retry Handler", "Retries retryable failures with backoff.")
MONITOR = Participant("monitor", "Monitor", "Metrics, alert rules and escalation.")

PARTICIPANTS: tuple[Participant, ...] = (
    ADMIN,
    ORCHESTRATOR,
    CONFIG_MANAGER,
    DATABASE,
    TASK_QUEUE,
    WORKER_POOL,
    HTTP_SERVER,
    WEBSOCKET_SERVER,
    LOGGER,
    HEALTH_CHECKER,
    WORKER,
    REGISTRATION_API,
    CAPABILITY_MANAGER,
    LOAD_BALANCER,
    HEALTH_MONITOR,
    CLIENT,
    TASK_EXECUTOR,
    RESOURCE_MANAGER,
    GIT_PLATFORM,
    AI_PROVIDER,
    QUALITY_GATES,
    SERVICE,
    CIRCUIT_BREAKER,
    RETRY_HANDLER,
    MONITOR,
)

_BY_ID = {p.id: p for p in PARTICIPANTS}


def participant(participant_id: str) -> Participant:
    """Look a participant up by its stable id, failing with the list of declared ids."""
    try:
        return _BY_ID[participant_id]
    except KeyError:
        raise UnknownParticipantError(participant_id, _BY_ID) from None


def is_declared(candidate: Participant) -> bool:
    """True when `candidate` is one of :data:`PARTICIPANTS` (same id *and* same name)."""
    return _BY_ID.get(candidate.id) == candidate
