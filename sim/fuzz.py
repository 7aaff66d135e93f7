"""``python -m sim fuzz``: random fault schedules, shrunk to a minimal failing one (issue 5, §4).

Hypothesis draws fault schedules for a small base topology; a schedule fails when any check
fails. ``hypothesis.find`` shrinks the first failure to a minimal schedule, which is written as a
scenario file that replays it with ``python -m sim run FILE``. Crashed processes are always
restarted: a schedule that kills every worker for good is not a spec violation, just no capacity.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, find, settings
from hypothesis import strategies as st
from hypothesis.errors import NoSuchExample
from rich.console import Console

from sim.checks import run_checks
from sim.links import EXTERNAL_SERVICES, MODELLED_LINKS
from sim.model import run_scenario
from sim.scenario import FAULT_KINDS, Scenario, scenario_from_mapping, scenario_to_yaml
from spec.injected_faults import InjectedFault

WORKERS = 3
#: Orchestrator replicas of the default base: two, so that a drawn ``replica_crash`` is valid.
REPLICAS = 2
HORIZON = 600.0

def _rounded(low: float, high: float, digits: int = 1) -> st.SearchStrategy[float]:
    return st.floats(low, high).map(lambda x: round(x, digits))


def fault_strategies(workers: int, horizon_s: float,
                     replicas: int = REPLICAS) -> dict[InjectedFault, st.SearchStrategy[dict[str, Any]]]:
    """One strategy per declared fault kind, for a topology of `workers` (and `replicas`) and a run of `horizon_s`.

    The fields drawn per kind are listed here; a kind declared in ``spec.injected_faults`` without
    an entry fails at import, so the fuzzer never silently skips one.
    """
    times = st.floats(min_value=0, max_value=max(1.0, horizon_s - 100), allow_nan=False).map(lambda x: round(x, 1))
    durations = st.floats(min_value=1, max_value=200, allow_nan=False).map(lambda x: round(x, 1))
    worker = st.integers(min_value=1, max_value=workers)
    services = st.sampled_from([service.id for service in EXTERNAL_SERVICES])
    links = st.sampled_from([tuple(sorted(pair)) for pair in MODELLED_LINKS])
    fields: dict[InjectedFault, dict[str, st.SearchStrategy[Any]]] = {
        InjectedFault.WORKER_CRASH: {"worker": worker, "restart_after": durations},
        InjectedFault.WORKER_SHUTDOWN: {"worker": worker},
        InjectedFault.ORCHESTRATOR_CRASH: {"restart_after": _rounded(1, 120)},
        InjectedFault.GRACEFUL_SHUTDOWN: {"restart_after": _rounded(1, 60)},
        InjectedFault.NETWORK_PARTITION: {"duration": durations, "between": links},
        InjectedFault.NETWORK_LATENCY: {"duration": durations, "between": links,
                                        "latency_s": _rounded(0.01, 10, 2)},
        InjectedFault.NETWORK_LOSS: {"duration": durations, "between": links, "loss": _rounded(0.05, 1, 2)},
        InjectedFault.DATABASE_OUTAGE: {"duration": durations},
        InjectedFault.SERVICE_ERRORS: {"duration": durations, "service": services},
        InjectedFault.RATE_LIMITED: {"duration": durations, "service": services,
                                     "retry_after_s": st.one_of(st.none(), _rounded(0, 30))},
        InjectedFault.AUTH_FAILURE: {"duration": durations, "service": services,
                                     "reauth_after_s": st.one_of(st.none(), _rounded(0, 30))},
        InjectedFault.SLOW_TASKS: {"duration": durations, "factor": _rounded(1.5, 10)},
        InjectedFault.RESOURCE_EXHAUSTION: {"duration": durations, "worker": worker},
        InjectedFault.REPLICA_CRASH: {"replica": st.integers(min_value=1, max_value=max(2, replicas)),
                                      "restart_after": st.one_of(st.none(), durations)},
    }
    return {kind: st.fixed_dictionaries({"kind": st.just(str(kind)), "at": times, **fields[kind]})
            for kind in FAULT_KINDS}


#: The default base's strategies, and the schedule's fault drawn from any of them.
FAULT_STRATEGIES = fault_strategies(WORKERS, HORIZON)
FAULTS: st.SearchStrategy[dict[str, Any]] = st.one_of(*FAULT_STRATEGIES.values())

SCHEDULES = st.lists(FAULTS, min_size=1, max_size=6)

#: The base when no ``--base`` scenario is given: a small steady workload, nothing expected.
DEFAULT_BASE: dict[str, Any] = {
    "name": "fuzz_failure",
    "description": "A fault schedule found by python -m sim fuzz that violates a spec property.",
    "seed": 1,
    "duration_s": HORIZON,
    "topology": {"workers": WORKERS, "replicas": REPLICAS},
    "workload": {"tasks": 30, "rate_per_s": 0.1, "mean_service_s": 20},
}


def schedule_scenario(faults: list[dict[str, Any]], seed: int = 1, base: Scenario | None = None) -> Scenario:
    """`base` (default: `DEFAULT_BASE`) with `faults` added to its own, and no expectations: the
    fuzzer looks for spec violations, not for the behaviours a scenario was written to show."""
    if base is None:
        return scenario_from_mapping({**DEFAULT_BASE, "seed": seed, "faults": faults}, source="<fuzz>")
    raw = base.model_dump(mode="json", exclude={"expect"})
    raw.update(name=f"{base.name}_fuzz_failure", faults=[*raw.get("faults", []), *faults],
               description=f"{base.name} plus a fault schedule found by python -m sim fuzz that violates a "
               "spec property.")
    return scenario_from_mapping(raw, source="<fuzz>")


def violations(scenario: Scenario) -> list[str]:
    run = run_scenario(scenario)
    return [f"{c.name}: {v}" for c in run_checks(run) if c.failed and not c.expectation for v in c.violations]


def search(examples: int, seed: int, base: Scenario | None = None) -> list[dict[str, Any]] | None:
    """The minimal failing schedule added to `base`, or None when `examples` schedules all passed."""
    if base is None:
        schedules = SCHEDULES
    else:  # a replica crash needs two replicas; on a base with one, it is not drawn
        drawn = fault_strategies(base.topology.workers, base.duration_s, base.topology.replicas)
        kinds = [k for k in drawn if k is not InjectedFault.REPLICA_CRASH or base.topology.replicas >= 2]
        schedules = st.lists(st.one_of(*(drawn[k] for k in kinds)), min_size=1, max_size=6)
    try:
        return find(
            schedules,
            lambda faults: bool(violations(schedule_scenario(faults, base=base))),
            settings=settings(max_examples=examples, database=None, deadline=None,
                              suppress_health_check=list(HealthCheck)),
            random=random.Random(seed),
        )
    except NoSuchExample:
        return None


def fuzz_command(console: Console, *, examples: int, seed: int, out: Path, base: Scenario | None = None) -> int:
    on = "" if base is None else f" on top of {base.name}"
    console.print(f"fuzzing {examples} fault schedules{on} (seed {seed})")
    found = search(examples, seed, base)
    if found is None:
        console.print(f"[green]no violation in {examples} schedules[/]")
        return 0
    scenario = schedule_scenario(found, base=base)
    out.write_text(scenario_to_yaml(scenario), encoding="utf-8")
    console.print(f"[red]violation found; minimal schedule written to {out}[/] (replay: python -m sim run {out})")
    for line in violations(scenario)[:10]:
        console.print(f"  {line}", highlight=False)
    return 1
