"""Scenario files: topology, workload, fault schedule and expected properties (issue 5, "Faults, as data").

A scenario is YAML validated by pydantic before anything runs. Faults are a tagged union on
``kind``; participants are checked against `spec.participants` and against the links the model
has (`sim.links`); policy overrides are merged into `spec.policies.DEFAULT_POLICIES` and
validated by the spec's own models, so a bad value names the policy field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.errors import ScenarioError
from sim.links import EXTERNAL_SERVICES, MODELLED_LINKS, describe_links, link_key
from spec.errors import UnknownParticipantError
from spec.injected_faults import InjectedFault
from spec.machines import MACHINES
from spec.participants import WORKER, participant
from spec.policies import DEFAULT_POLICIES, Policies

CHECK_NAMES = (
    "retry_schedule",
    "breaker",
    "rate_limit_wait",
    "heartbeat_detection",
    "exactly_once",
    "graceful_shutdown",
    "startup_timeouts",
    "recovery_bound",
    "failover",
)


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _known_participant(value: str) -> str:
    try:
        participant(value)
    except UnknownParticipantError as exc:
        raise ValueError(str(exc)) from None
    return value


def _external_service(value: str) -> str:
    _known_participant(value)
    ids = [s.id for s in EXTERNAL_SERVICES]
    if value not in ids:
        raise ValueError(f"{value!r} is not an external service of the model; use one of: {', '.join(ids)}")
    return value


class Topology(_Model):
    """Sizes and model timings; not policies (those live in `spec.policies`)."""

    workers: int = Field(3, ge=1, le=5000)
    latency_s: float = Field(0.005, ge=0, description="One-way latency of every link.")
    request_timeout_s: float = Field(5.0, gt=0, description="A caller gives up on a lost request after this.")
    db_op_s: float = Field(0.002, ge=0, description="Time of one database operation.")
    service_call_s: float = Field(0.5, ge=0, description="Time an external service takes to answer.")
    startup_phase_s: float = Field(0.05, ge=0, description="Time each startup/recovery phase takes.")
    supervisor_restart_s: float = Field(5.0, gt=0, description="Delay before a failed process is started again.")
    replicas: int = Field(1, ge=1, le=16, description="Orchestrator replicas on one database; two or more elect "
                          "the one that runs the sweeps (`leader_election`).")


class Workload(_Model):
    tasks: int = Field(20, ge=0, le=2_000_000)
    start_s: float = Field(5.0, ge=0, description="First submission time.")
    arrival: Literal["poisson", "uniform"] = "poisson"
    rate_per_s: float = Field(0.5, gt=0)
    service: Literal["exponential", "fixed"] = "exponential"
    mean_service_s: float = Field(20.0, gt=0)
    ai_calls: int = Field(1, ge=0, le=50, description="AI provider calls per task.")
    git_calls: int = Field(1, ge=0, le=50, description="Git platform calls per task.")


class _Fault(_Model):
    at: float = Field(ge=0, description="Simulated time the fault starts.")


class _Windowed(_Fault):
    duration: float = Field(gt=0)

    @property
    def end(self) -> float:
        return self.at + self.duration


class WorkerCrash(_Fault):
    kind: Literal[InjectedFault.WORKER_CRASH]
    worker: int = Field(1, ge=1, description="1-based worker index.")
    restart_after: float | None = Field(None, gt=0, description="Restart delay; omitted = never restarts.")


class WorkerShutdown(_Fault):
    kind: Literal[InjectedFault.WORKER_SHUTDOWN]
    worker: int = Field(1, ge=1, description="1-based worker index; it stops gracefully and does not come back.")


class OrchestratorCrash(_Fault):
    kind: Literal[InjectedFault.ORCHESTRATOR_CRASH]
    restart_after: float = Field(gt=0)


class ReplicaCrash(_Fault):
    kind: Literal[InjectedFault.REPLICA_CRASH]
    replica: int = Field(1, ge=1, description="1-based replica index (topology.replicas must be 2 or more).")
    restart_after: float | None = Field(None, gt=0, description="Restart delay; omitted = never restarts.")


class GracefulShutdown(_Fault):
    kind: Literal[InjectedFault.GRACEFUL_SHUTDOWN]
    restart_after: float = Field(gt=0, description="Delay after the shutdown completes before a fresh start.")


class _LinkFault(_Windowed):
    between: tuple[str, str]
    worker: int | None = Field(None, ge=1, description="Only this worker's link (when one end is 'worker').")

    @field_validator("between")
    @classmethod
    def _modelled(cls, value: tuple[str, str]) -> tuple[str, str]:
        for end in value:
            _known_participant(end)
        if link_key(*value) not in MODELLED_LINKS:
            raise ValueError(f"no link between {value[0]!r} and {value[1]!r} in the model; links: {describe_links()}")
        return value

    @model_validator(mode="after")
    def _worker_needs_worker_end(self) -> Self:
        if self.worker is not None and WORKER.id not in self.between:
            raise ValueError(f"'worker' selects one worker's link, but neither end is {WORKER.id!r}")
        return self


class NetworkPartition(_LinkFault):
    kind: Literal[InjectedFault.NETWORK_PARTITION]


class NetworkLatency(_LinkFault):
    kind: Literal[InjectedFault.NETWORK_LATENCY]
    latency_s: float = Field(gt=0, description="Extra one-way latency.")


class NetworkLoss(_LinkFault):
    kind: Literal[InjectedFault.NETWORK_LOSS]
    loss: float = Field(gt=0, le=1, description="Probability that one message is dropped.")


class DatabaseOutage(_Windowed):
    kind: Literal[InjectedFault.DATABASE_OUTAGE]


class _ServiceFault(_Windowed):
    service: str

    @field_validator("service")
    @classmethod
    def _service(cls, value: str) -> str:
        return _external_service(value)


class ServiceErrors(_ServiceFault):
    kind: Literal[InjectedFault.SERVICE_ERRORS]
    status: int = Field(503, ge=500, le=599)
    fraction: float = Field(1.0, gt=0, le=1, description="Share of calls answered with the 5xx.")


class RateLimited(_ServiceFault):
    kind: Literal[InjectedFault.RATE_LIMITED]
    retry_after_s: float | None = Field(None, ge=0, description="Retry-After sent with the 429; omitted = none.")


class AuthFailure(_ServiceFault):
    kind: Literal[InjectedFault.AUTH_FAILURE]
    reauth_after_s: float | None = Field(None, ge=0, description="New credentials arrive after this; omitted = never.")


class SlowTasks(_Windowed):
    kind: Literal[InjectedFault.SLOW_TASKS]
    factor: float = Field(gt=1, le=1000, description="Tasks started in the window take this many times longer.")


class ResourceExhaustion(_Windowed):
    kind: Literal[InjectedFault.RESOURCE_EXHAUSTION]
    worker: int | None = Field(None, ge=1, description="1-based worker index; omitted = every worker.")


Fault = Annotated[
    WorkerCrash
    | WorkerShutdown
    | OrchestratorCrash
    | GracefulShutdown
    | NetworkPartition
    | NetworkLatency
    | NetworkLoss
    | DatabaseOutage
    | ServiceErrors
    | RateLimited
    | AuthFailure
    | SlowTasks
    | ResourceExhaustion
    | ReplicaCrash,
    Field(discriminator="kind"),
]

#: The fault kinds in declaration order (``spec.injected_faults.InjectedFault``); every one has a
#: model in the union above, checked on import.
FAULT_KINDS: tuple[InjectedFault, ...] = tuple(InjectedFault)
_MODELLED = {kind for model in get_args(get_args(Fault)[0]) for kind in get_args(model.model_fields["kind"].annotation)}
if _MODELLED != set(FAULT_KINDS):  # pragma: no cover - a declaration error, caught on import
    raise RuntimeError(f"fault kinds without a scenario model: {sorted(set(FAULT_KINDS) - _MODELLED)}")


class Expectations(_Model):
    """What the scenario is for: checks that must be exercised (not vacuously 'n/a')."""

    exercises: tuple[str, ...] = ()
    min_completed: int = Field(0, ge=0)
    #: ``machine.trigger`` pairs the run must fire at least once (e.g. ``rate_limit.limit_persisted``).
    transitions: tuple[str, ...] = ()

    @field_validator("transitions")
    @classmethod
    def _declared_transitions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            name, _, trigger = item.partition(".")
            if name not in MACHINES:
                raise ValueError(f"{item!r}: unknown machine {name!r}; machines: {', '.join(MACHINES)}")
            if trigger not in MACHINES[name].triggers:
                raise ValueError(f"{item!r}: machine {name!r} has no trigger {trigger!r}; "
                                 f"triggers: {', '.join(MACHINES[name].triggers)}")
        return value

    @field_validator("exercises")
    @classmethod
    def _known_checks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if name not in CHECK_NAMES:
                raise ValueError(f"unknown check {name!r}; checks: {', '.join(CHECK_NAMES)}")
        return value


class Scenario(_Model):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9_]+$")
    description: str = Field(min_length=1)
    seed: int = Field(1, ge=0)
    duration_s: float = Field(gt=0, description="Run at least this long; faults fall inside it.")
    settle_timeout_s: float = Field(1800.0, ge=0, description="Extra time allowed for accepted tasks to settle.")
    topology: Topology = Topology()
    workload: Workload = Workload()
    faults: tuple[Fault, ...] = ()
    expect: Expectations = Expectations()
    policies: Policies = DEFAULT_POLICIES

    @model_validator(mode="after")
    def _workers_exist(self) -> Self:
        for index, fault in enumerate(self.faults):
            chosen = getattr(fault, "worker", None)
            if chosen is not None and chosen > self.topology.workers:
                raise ValueError(
                    f"faults[{index}].worker: worker {chosen} does not exist; topology has {self.topology.workers}"
                )
            replica = getattr(fault, "replica", None)
            if replica is not None and (self.topology.replicas < 2 or replica > self.topology.replicas):
                raise ValueError(f"faults[{index}].replica: replica {replica} does not exist; topology has "
                                 f"{self.topology.replicas} (a replica crash needs topology.replicas >= 2)")
        return self

    @property
    def horizon_s(self) -> float:
        return self.duration_s + self.settle_timeout_s


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


# pydantic lists a union's tags as enum reprs (<InjectedFault.WORKER_CRASH: 'worker_crash'>);
# a scenario author wrote (and should read) only the value.
_ENUM_REPR = re.compile(r"<InjectedFault\.\w+: '(\w+)'>")


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part in FAULT_KINDS:
            continue  # pydantic's tag step of the union; the kind is already in the file
        else:
            path += f".{part}" if path else str(part)
    return path or "<document>"


def scenario_from_mapping(raw: Any, *, source: str) -> Scenario:
    """Validate one parsed document; every problem becomes a `ScenarioError` naming the field."""
    if not isinstance(raw, Mapping):
        raise ScenarioError(source, "<document>", f"expected a mapping at the top level, got {type(raw).__name__}")
    data = dict(raw)
    overrides = data.get("policies")
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            raise ScenarioError(source, "policies", "expected a mapping of policy overrides")
        data["policies"] = _deep_merge(DEFAULT_POLICIES.model_dump(), overrides)
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = _ENUM_REPR.sub(r"'\1'", str(first["msg"]).removeprefix("Value error, "))
        raise ScenarioError(source, _field_path(tuple(first["loc"])), reason) from None


def load_scenario(path: Path | str) -> Scenario:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(p), "<file>", f"cannot read ({exc.strerror})") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(str(p), "<document>", f"not valid YAML ({exc})") from None
    return scenario_from_mapping(raw, source=str(p))


def scenario_to_yaml(scenario: Scenario) -> str:
    """The scenario as YAML with only the policy fields that differ from the defaults."""
    data = scenario.model_dump(mode="json", exclude={"policies"})
    overrides = _policy_overrides(DEFAULT_POLICIES.model_dump(mode="json"), scenario.policies.model_dump(mode="json"))
    if overrides:
        data["policies"] = overrides
    return yaml.safe_dump(data, sort_keys=False)


def _policy_overrides(default: Mapping[str, Any], actual: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in actual.items():
        if isinstance(value, Mapping) and isinstance(default.get(key), Mapping):
            nested = _policy_overrides(default[key], value)
            if nested:
                out[key] = nested
        elif default.get(key) != value:
            out[key] = value
    return out

