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
from sim.links import MODELLED_LINKS
from sim.model import run_scenario
from sim.scenario import Scenario, scenario_from_mapping, scenario_to_yaml

WORKERS = 3
HORIZON = 600.0

_times = st.floats(min_value=0, max_value=HORIZON - 100, allow_nan=False).map(lambda x: round(x, 1))
_durations = st.floats(min_value=1, max_value=200, allow_nan=False).map(lambda x: round(x, 1))
_workers = st.integers(min_value=1, max_value=WORKERS)
_services = st.sampled_from(["ai_provider", "git_platform"])
_links = st.sampled_from([tuple(sorted(pair)) for pair in MODELLED_LINKS])


def _fault(kind: str, **fields: Any) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"kind": st.just(kind), "at": _times, **fields})


FAULTS: st.SearchStrategy[dict[str, Any]] = st.one_of(
    _fault("worker_crash", worker=_workers, restart_after=_durations),
    _fault("orchestrator_crash", restart_after=st.floats(1, 120).map(lambda x: round(x, 1))),
    _fault("graceful_shutdown", restart_after=st.floats(1, 60).map(lambda x: round(x, 1))),
    _fault("network_partition", duration=_durations, between=_links),
    _fault("network_latency", duration=_durations, between=_links,
           latency_s=st.floats(0.01, 10).map(lambda x: round(x, 2))),
    _fault("network_loss", duration=_durations, between=_links, loss=st.floats(0.05, 1).map(lambda x: round(x, 2))),
    _fault("database_outage", duration=_durations),
    _fault("service_errors", duration=_durations, service=_services),
    _fault("rate_limited", duration=_durations, service=_services,
           retry_after_s=st.one_of(st.none(), st.floats(0, 30).map(lambda x: round(x, 1)))),
    _fault("auth_failure", duration=_durations, service=_services,
           reauth_after_s=st.one_of(st.none(), st.floats(0, 30).map(lambda x: round(x, 1)))),
    _fault("slow_tasks", duration=_durations, factor=st.floats(1.5, 50).map(lambda x: round(x, 1))),
    _fault("resource_exhaustion", duration=_durations, worker=_workers),
)

SCHEDULES = st.lists(FAULTS, min_size=1, max_size=6)


def schedule_scenario(faults: list[dict[str, Any]], seed: int = 1) -> Scenario:
    raw = {
        "name": "fuzz_failure",
        "description": "A fault schedule found by python -m sim fuzz that violates a spec property.",
        "seed": seed,
        "duration_s": HORIZON,
        "topology": {"workers": WORKERS},
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
