"""The kinds of fault the simulator injects, and what each one does to the platform.

Declared once here (issue 11): the simulator's scenario schema (``sim.scenario``) takes each
fault model's ``kind`` from this enum, ``sim.FAULT_KINDS`` and the fuzzer's strategies are
derived from it, and the docs' fault table is generated from it. A kind added here without a
scenario model, or a fuzz strategy, fails the simulator's tests instead of silently never
being injected.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class InjectedFault(StrEnum):
    """One kind of injected fault; the value is the ``kind`` written in scenario files."""

    WORKER_CRASH = "worker_crash"
    WORKER_SHUTDOWN = "worker_shutdown"
    ORCHESTRATOR_CRASH = "orchestrator_crash"
    GRACEFUL_SHUTDOWN = "graceful_shutdown"
    NETWORK_PARTITION = "network_partition"
    NETWORK_LATENCY = "network_latency"
    NETWORK_LOSS = "network_loss"
    DATABASE_OUTAGE = "database_outage"
    SERVICE_ERRORS = "service_errors"
    RATE_LIMITED = "rate_limited"
    AUTH_FAILURE = "auth_failure"
    SLOW_TASKS = "slow_tasks"
    RESOURCE_EXHAUSTION = "resource_exhaustion"
    REPLICA_CRASH = "replica_crash"


#: What each fault does to the platform, as the docs' fault table says it.
FAULT_EFFECTS: Mapping[InjectedFault, str] = MappingProxyType({
    InjectedFault.WORKER_CRASH: "Every process of the worker stops; a restart runs `worker_recovery`.",
    InjectedFault.WORKER_SHUTDOWN:
        "The worker stops gracefully and for good (`worker_shutdown`): no new work, its task finished or "
        "interrupted by `worker_task_deadline_s`, then it deregisters.",
    InjectedFault.ORCHESTRATOR_CRASH:
        "Memory lost (waiting polls, heartbeat times); a restart runs `orchestrator_recovery`.",
    InjectedFault.GRACEFUL_SHUTDOWN: "Runs `orchestrator_shutdown`, then a fresh startup.",
    InjectedFault.NETWORK_PARTITION: "Messages on the link are dropped; callers time out.",
    InjectedFault.NETWORK_LATENCY: "Extra one-way latency on the link.",
    InjectedFault.NETWORK_LOSS: "Each message on the link is dropped with probability `loss`.",
    InjectedFault.DATABASE_OUTAGE: "Database operations fail at once (503 to callers).",
    InjectedFault.SERVICE_ERRORS: "The AI provider or git platform answers 5xx.",
    InjectedFault.RATE_LIMITED: "The service answers 429, with or without Retry-After.",
    InjectedFault.AUTH_FAILURE:
        "Credentials issued before `at` are refused (401); new ones arrive after `reauth_after_s`.",
    InjectedFault.SLOW_TASKS: "Tasks started in the window take `factor` times longer (timeouts).",
    InjectedFault.RESOURCE_EXHAUSTION:
        "Resource allocation fails: `allocation_failed`, `RESOURCE_EXHAUSTED`.",
    InjectedFault.REPLICA_CRASH:
        "One of several orchestrator replicas stops; its database session ends and with it the leader lock, so "
        "another replica takes the sweeps over (`leader_election`).",
})

if set(FAULT_EFFECTS) != set(InjectedFault):  # pragma: no cover - a declaration error, caught on import
    raise RuntimeError("every InjectedFault needs an entry in FAULT_EFFECTS")


class ProcessFault(StrEnum):
    """A fault the runtime conformance suite applies to real processes (``tests/conformance``).

    Real processes can be hurt in ways the model has no counterpart for, and the other way round,
    so these are their own kinds; `SIMULATED_AS` says which simulator fault each one corresponds to.
    """

    WORKER_KILL = "worker_kill"
    WORKER_SIGTERM = "worker_sigterm"
    HEARTBEAT_LOSS = "heartbeat_loss"
    ORCHESTRATOR_RESTART = "orchestrator_restart"


#: The simulator's counterpart of each process fault, or None where the model has none.
SIMULATED_AS: Mapping[ProcessFault, InjectedFault | None] = MappingProxyType({
    ProcessFault.WORKER_KILL: InjectedFault.WORKER_CRASH,
    ProcessFault.WORKER_SIGTERM: InjectedFault.WORKER_SHUTDOWN,
    # Only the heartbeats are lost, where the model's partition drops every message on the link.
    ProcessFault.HEARTBEAT_LOSS: None,
    ProcessFault.ORCHESTRATOR_RESTART: InjectedFault.ORCHESTRATOR_CRASH,
})

if set(SIMULATED_AS) != set(ProcessFault):  # pragma: no cover - a declaration error, caught on import
    raise RuntimeError("every ProcessFault needs an entry in SIMULATED_AS")
