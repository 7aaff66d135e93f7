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
REPLICAS = 2
HORIZON = 600.0

_times = st.floats(min_value=0, max_value=HORIZON - 100, allow_nan=False).map(lambda x: round(x, 1))
_durations = st.floats(min_value=1, max_value=200, allow_nan=False).map(lambda x: round(x, 1))
_workers = st.integers(min_value=1, max_value=WORKERS)
_services = st.sampled_from([service.id for service in EXTERNAL_SERVICES])
_links = st.sampled_from([tuple(sorted(pair)) for pair in MODELLED_LINKS])


def _fault(kind: str, **fields: Any) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"kind": st.just(str(kind)), "at": _times, **fields})


def _rounded(low: float, high: float, digits: int = 1) -> st.SearchStrategy[float]:
    return st.floats(low, high).map(lambda x: round(x, digits))


# The fields drawn for each declared fault kind (``spec.injected_faults.InjectedFault``); a kind
# declared there without an entry here fails at import, so the fuzzer never silently skips one.
_FIELDS: dict[InjectedFault, dict[str, st.SearchStrategy[Any]]] = {
    InjectedFault.WORKER_CRASH: {"worker": _workers, "restart_after": _durations},
    InjectedFault.ORCHESTRATOR_CRASH: {"restart_after": _rounded(1, 120)},
    InjectedFault.GRACEFUL_SHUTDOWN: {"restart_after": _rounded(1, 60)},
    InjectedFault.NETWORK_PARTITION: {"duration": _durations, "between": _links},
    InjectedFault.NETWORK_LATENCY: {"duration": _durations, "between": _links, "latency_s": _rounded(0.01, 10, 2)},
    InjectedFault.NETWORK_LOSS: {"duration": _durations, "between": _links, "loss": _rounded(0.05, 1, 2)},
    InjectedFault.DATABASE_OUTAGE: {"duration": _durations},
    InjectedFault.SERVICE_ERRORS: {"duration": _durations, "service": _services},
    InjectedFault.RATE_LIMITED: {"duration": _durations, "service": _services,
                                 "retry_after_s": st.one_of(st.none(), _rounded(0, 30))},
    InjectedFault.AUTH_FAILURE: {"duration": _durations, "service": _services,
                                 "reauth_after_s": st.one_of(st.none(), _rounded(0, 30))},
    InjectedFault.SLOW_TASKS: {"duration": _durations, "factor": _rounded(1.5, 50)},
    InjectedFault.RESOURCE_EXHAUSTION: {"duration": _durations, "worker": _workers},
    InjectedFault.REPLICA_CRASH: {"replica": st.integers(min_value=1, max_value=REPLICAS),
                                  "restart_after": st.one_of(st.none(), _durations)},
}

#: One strategy per declared fault kind, and the schedule's fault drawn from any of them.
FAULT_STRATEGIES: dict[InjectedFault, st.SearchStrategy[dict[str, Any]]] = {
    kind: _fault(kind, **_FIELDS[kind]) for kind in FAULT_KINDS
}
FAULTS: st.SearchStrategy[dict[str, Any]] = st.one_of(*FAULT_STRATEGIES.values())

SCHEDULES = st.lists(FAULTS, min_size=1, max_size=6)


def schedule_scenario(faults: list[dict[str, Any]], seed: int = 1) -> Scenario:
    raw = {
        "name": "fuzz_failure",
        "description": "A fault schedule found by python -m sim fuzz that violates a spec property.",
        "seed": seed,
        "duration_s": HORIZON,
        "topology": {"workers": WORKERS, "replicas": REPLICAS},
        "workload": {"tasks": 30, "rate_per_s": 0.1, "mean_service_s": 20},
        "faults": faults,
    }
    return scenario_from_mapping(raw, source="<fuzz>")


def violations(scenario: Scenario) -> list[str]:
    run = run_scenario(scenario)
    return [f"{c.name}: {v}" for c in run_checks(run) if c.failed for v in c.violations]


def search(examples: int, seed: int) -> list[dict[str, Any]] | None:
    """The minimal failing schedule, or None when `examples` schedules all passed."""
    try:
        return find(
            SCHEDULES,
            lambda faults: bool(violations(schedule_scenario(faults))),
            settings=settings(max_examples=examples, database=None, deadline=None,
                              suppress_health_check=list(HealthCheck)),
            random=random.Random(seed),
        )
    except NoSuchExample:
        return None


def fuzz_command(console: Console, *, examples: int, seed: int, out: Path) -> int:
    console.print(f"fuzzing {examples} fault schedules (seed {seed})")
    found = search(examples, seed)
    if found is None:
        console.print(f"[green]no violation in {examples} schedules[/]")
        return 0
    scenario = schedule_scenario(found)
    out.write_text(scenario_to_yaml(scenario), encoding="utf-8")
    console.print(f"[red]violation found; minimal schedule written to {out}[/] (replay: python -m sim run {out})")
    for line in violations(scenario)[:10]:
        console.print(f"  {line}", highlight=False)
    return 1
