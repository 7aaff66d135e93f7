"""The shared state of one run: clock, policies, random streams, fault windows, trace and ledger.

Every random draw comes from a named stream seeded from (scenario seed, stream name) with
SHA-256, never from Python's ``hash`` (randomised per process), so a run is reproducible on any
machine and any ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from enum import StrEnum

import simpy

from sim.recorder import TraceRecorder
from sim.scenario import (
    AuthFailure,
    DatabaseOutage,
    NetworkLatency,
    NetworkLoss,
    NetworkPartition,
    RateLimited,
    ResourceExhaustion,
    Scenario,
    ServiceErrors,
    SlowTasks,
)
from spec.decisions.backoff import BackoffSchedule
from spec.decisions.liveness import LivenessRules
from spec.participants import AI_PROVIDER, DATABASE, GIT_PLATFORM, ORCHESTRATOR, WORKER
from spec.policies import Policies


class Reply(StrEnum):
    """What a caller learns about one request."""

    OK = "ok"
    NO_TASK = "no_task"  # 204
    CONFLICT = "conflict"  # 409: stale fencing token or unknown worker
    UNAVAILABLE = "unavailable"  # 503 or connection refused
    LOST = "lost"  # no answer before the request timeout


class ServiceAnswer(StrEnum):
    OK = "ok"
    SERVER_ERROR = "5xx"
    RATE_LIMITED = "429"
    UNAUTHORIZED = "401"
    LOST = "lost"


def stream(seed: int, name: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class Ledger:
    """Facts the trace alone does not carry, read by the checks."""

    accepted: dict[str, float] = field(default_factory=dict)
    rejected_submissions: int = 0
    worker_down: dict[str, list[tuple[float, float | None]]] = field(default_factory=dict)
    orchestrator_restarts: list[float] = field(default_factory=list)
    orchestrator_crashes: list[float] = field(default_factory=list)

    def worker_was_down(self, worker_id: str, at: float) -> bool:
        return any(start <= at and (end is None or at < end) for start, end in self.worker_down.get(worker_id, ()))


class FaultBook:
    """Answers "what is broken at time t" from the scenario's fault windows."""

    def __init__(self, scenario: Scenario) -> None:
        faults = scenario.faults
        self.partitions = [f for f in faults if isinstance(f, NetworkPartition)]
        self.latencies = [f for f in faults if isinstance(f, NetworkLatency)]
        self.losses = [f for f in faults if isinstance(f, NetworkLoss)]
        self.db_outages = [f for f in faults if isinstance(f, DatabaseOutage)]
        self.errors = [f for f in faults if isinstance(f, ServiceErrors)]
        self.limits = [f for f in faults if isinstance(f, RateLimited)]
        self.auth = [f for f in faults if isinstance(f, AuthFailure)]
        self.slow = [f for f in faults if isinstance(f, SlowTasks)]
        self.exhaustion = [f for f in faults if isinstance(f, ResourceExhaustion)]
        self.has_link_faults = bool(self.partitions or self.latencies or self.losses)

    @staticmethod
    def _on_link(fault: NetworkPartition | NetworkLatency | NetworkLoss, a: str, b: str, worker: int | None) -> bool:
        if {a, b} != set(fault.between):
            return False
        return fault.worker is None or worker is None or fault.worker == worker

    def link(self, a: str, b: str, worker: int | None, t: float) -> tuple[bool, float, float]:
        """(partitioned, extra latency, loss probability) of the a<->b link at time t."""
        if not self.has_link_faults:
            return False, 0.0, 0.0
        cut = any(f.at <= t < f.end and self._on_link(f, a, b, worker) for f in self.partitions)
        extra = sum(f.latency_s for f in self.latencies if f.at <= t < f.end and self._on_link(f, a, b, worker))
        loss = max((f.loss for f in self.losses if f.at <= t < f.end and self._on_link(f, a, b, worker)), default=0.0)
        return cut, extra, loss

    def database_down(self, t: float) -> bool:
        # The empty case is tested first: every database operation asks, and most runs have no outage.
        return bool(self.db_outages) and any(f.at <= t < f.end for f in self.db_outages)

    def slow_factor(self, t: float) -> float:
        return max((f.factor for f in self.slow if f.at <= t < f.end), default=1.0)

    def exhausted(self, worker: int, t: float) -> bool:
        return any(f.at <= t < f.end and (f.worker is None or f.worker == worker) for f in self.exhaustion)

    def auth_failure(self, service: str, t: float) -> AuthFailure | None:
        return next((f for f in self.auth if f.service == service and f.at <= t < f.end), None)

    def rate_limit(self, service: str, t: float) -> RateLimited | None:
        return next((f for f in self.limits if f.service == service and f.at <= t < f.end), None)

    def server_error(self, service: str, t: float) -> ServiceErrors | None:
        return next((f for f in self.errors if f.service == service and f.at <= t < f.end), None)


class World:
    """Everything the components of one run share."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.policies: Policies = scenario.policies
        self.topology = scenario.topology
        self.env = simpy.Environment()
        self.recorder = TraceRecorder(lambda: self.env.now)
        self.ledger = Ledger()
        self.faults = FaultBook(scenario)
        self._loss = stream(seed, "network-loss")
        self._errors = stream(seed, "service-errors")
        self.jitter = stream(seed, "backoff-jitter")
        self.backoff = BackoffSchedule(self.policies.backoff)
        self.liveness = LivenessRules(self.policies.heartbeat, self.policies.lease)
        self._counters: dict[str, int] = {}

    def unique(self, prefix: str) -> str:
        """A component name not used before in this run: ``prefix#n``."""
        n = self._counters.get(prefix, 0) + 1
        self._counters[prefix] = n
        return f"{prefix}#{n}"

    def transit(self, a: str, b: str, worker: int | None) -> tuple[bool, float]:
        """Send one message a -> b now: (delivered, one-way delay)."""
        if not self.faults.has_link_faults:
            return True, self.topology.latency_s  # what the general path gives with no link fault
        cut, extra, loss = self.faults.link(a, b, worker, self.env.now)
        if cut or (loss > 0 and self._loss.random() < loss):
            return False, 0.0
        return True, self.topology.latency_s + extra

    def answer_of(self, service: str, t: float, credentials_since: float) -> tuple[ServiceAnswer, float | None]:
        """How `service` answers a call arriving at t, and the Retry-After of a 429.

        An authentication fault revokes credentials issued before it started; credentials
        obtained after its start are accepted.
        """
        revoked = self.faults.auth_failure(service, t)
        if revoked is not None and credentials_since < revoked.at:
            return ServiceAnswer.UNAUTHORIZED, None
        limited = self.faults.rate_limit(service, t)
        if limited is not None:
            return ServiceAnswer.RATE_LIMITED, limited.retry_after_s
        broken = self.faults.server_error(service, t)
        if broken is not None and (broken.fraction >= 1 or self._errors.random() < broken.fraction):
            return ServiceAnswer.SERVER_ERROR, None
        return ServiceAnswer.OK, None


ORCH_ID, DB_ID, WORKER_ID = ORCHESTRATOR.id, DATABASE.id, WORKER.id
AI_ID, GIT_ID = AI_PROVIDER.id, GIT_PLATFORM.id
