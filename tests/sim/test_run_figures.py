"""Every run reports what it achieved (issue 17): throughput, latency, queue wait, failures by reason."""

from __future__ import annotations

from sim.catalogue import catalogue_files
from sim.model import run_scenario
from sim.outcome import evaluate
from sim.run_figures import RunFigures, _percentile
from sim.scenario import Scenario, load_scenario


def _catalogue(name: str) -> Scenario:
    return load_scenario(next(p for p in catalogue_files() if p.stem == name))


def test_failed_tasks_are_counted_by_the_reason_their_final_report_gave() -> None:
    run = run_scenario(_catalogue("auth_failure"))
    figures = RunFigures.of(run)
    assert figures.failed == sum(figures.failure_reasons.values()) > 0
    assert all(reason.startswith(("GIT_ERROR", "AI_ERROR")) for reason in figures.failure_reasons)
    assert figures.completed + figures.failed == len(run.final_task_states)


def test_throughput_latency_and_queue_wait_come_from_the_trace() -> None:
    run = run_scenario(_catalogue("baseline"))
    figures = RunFigures.of(run)
    assert figures.failed == 0 and figures.failure_reasons == {}
    assert figures.throughput_per_s == figures.completed / run.sim_time_s
    assert figures.queue_wait_p50_s is not None and figures.latency_p50_s is not None
    assert 0 <= figures.queue_wait_p50_s <= figures.latency_p50_s <= figures.latency_p95_s  # type: ignore[operator]


def test_the_json_carries_the_figures_and_tells_an_unmet_expectation_from_a_spec_violation() -> None:
    scenario = Scenario.model_validate({"name": "claims_breaker", "description": "injects nothing",
                                        "duration_s": 60, "workload": {"tasks": 2},
                                        "expect": {"exercises": ["breaker"]}})
    outcome = evaluate(scenario, determinism=False)
    assert not outcome.passed and not outcome.violated_spec
    data = outcome.to_json()
    assert data["violated_spec"] is False and data["figures"]["completed"] == 2
    assert [c["expectation"] for c in data["checks"] if c["status"] == "fail"] == [True]


def test_percentiles_pick_an_observed_value() -> None:
    assert _percentile([], 50) is None
    assert _percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert _percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
