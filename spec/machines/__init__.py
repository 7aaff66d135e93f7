"""Every workflow of the seed as a `transitions`-executable machine table.

``MACHINES`` maps each machine's name to its :class:`~spec.machine.MachineSpec`.
"""

from __future__ import annotations

from spec.errors import UnknownMachineError
from spec.machine import MachineSpec
from spec.machines.alerting import ALERT_RULE
from spec.machines.auth_error import AUTH_ERROR
from spec.machines.circuit_breaker import CIRCUIT_BREAKER_MACHINE
from spec.machines.config_reload import CONFIG_RELOAD
from spec.machines.leader_election import LEADER_ELECTION
from spec.machines.pipeline import PIPELINE
from spec.machines.rate_limit import RATE_LIMIT
from spec.machines.recovery import ORCHESTRATOR_RECOVERY, WORKER_RECOVERY
from spec.machines.retry import RETRY_CALL
from spec.machines.shutdown import ORCHESTRATOR_SHUTDOWN, WORKER_SHUTDOWN
from spec.machines.startup import STARTUP
from spec.machines.task_lifecycle import TASK_LIFECYCLE
from spec.machines.websocket_session import WEBSOCKET_SESSION
from spec.machines.worker_lifecycle import WORKER_LIFECYCLE
from spec.machines.workflow_lifecycle import WORKFLOW_LIFECYCLE

MACHINES: dict[str, MachineSpec] = {
    m.name: m
    for m in (
        STARTUP,
        WORKER_LIFECYCLE,
        TASK_LIFECYCLE,
        WORKFLOW_LIFECYCLE,
        WEBSOCKET_SESSION,
        PIPELINE,
        ORCHESTRATOR_SHUTDOWN,
        WORKER_SHUTDOWN,
        ORCHESTRATOR_RECOVERY,
        WORKER_RECOVERY,
        RETRY_CALL,
        RATE_LIMIT,
        AUTH_ERROR,
        CIRCUIT_BREAKER_MACHINE,
        ALERT_RULE,
        CONFIG_RELOAD,
        LEADER_ELECTION,
    )
}


def machine(name: str) -> MachineSpec:
    """The machine called `name`, or an error listing the known names."""
    try:
        return MACHINES[name]
    except KeyError:
        raise UnknownMachineError(name, MACHINES) from None


__all__ = [
    "ALERT_RULE",
    "AUTH_ERROR",
    "CIRCUIT_BREAKER_MACHINE",
    "CONFIG_RELOAD",
    "MACHINES",
    "ORCHESTRATOR_RECOVERY",
    "ORCHESTRATOR_SHUTDOWN",
    "PIPELINE",
    "RATE_LIMIT",
    "RETRY_CALL",
    "STARTUP",
    "TASK_LIFECYCLE",
    "WEBSOCKET_SESSION",
    "WORKER_LIFECYCLE",
    "WORKER_RECOVERY",
    "WORKER_SHUTDOWN",
    "WORKFLOW_LIFECYCLE",
    "machine",
]
