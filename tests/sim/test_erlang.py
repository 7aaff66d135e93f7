"""Erlang C: the formula against textbook values, and the model against the formula.

The docs table (``python -m sim erlang``) uses 150,000 tasks per load and a 5% tolerance. Here a
shorter run at ρ = 0.8 must land within 15%: a model that delayed leases (for example polling
instead of long-polling) is off by far more than that, so the test still fails on a real bug.
"""

from __future__ import annotations

import math

import pytest

from sim.erlang import erlang_c_probability, erlang_c_wait, fcfs_waits, markdown_table, measure
from sim.scenario import Scenario


def test_formula_matches_known_values() -> None:
    # M/M/1: P(wait) = rho and Wq = rho / (mu - lambda).
    assert erlang_c_probability(1, 0.5) == pytest.approx(0.5)
    assert erlang_c_wait(1, 0.5, 1.0) == pytest.approx(1.0)
    # M/M/2, a = 1: C = 1/3, Wq = C / (2 - 1) = 1/3.
    assert erlang_c_probability(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c_wait(2, 1.0, 1.0) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="below the number of servers"):
        erlang_c_probability(2, 2.0)


def test_simulated_wait_tracks_erlang_c() -> None:
    row = measure(0.8, workers=4, tasks=12_000, seed=3)
    assert math.isclose(row.formula_wait_s, erlang_c_wait(4, 3.2, 1.0))
    assert row.relative_error < 0.15, row
    assert "| 0.8 | 4 |" in markdown_table([row])
    assert row.not_fcfs == 0, f"{row.not_fcfs} tasks waited other than an M/M/4 FCFS queue would make them"


def test_fcfs_recursion_by_hand() -> None:
    # Two servers; arrivals at 0, 0, 0, 1 with work 2, 3, 1, 1: the third waits for the first
    # server (free at 2), the fourth for the second (free at 3).
    assert fcfs_waits([0.0, 0.0, 0.0, 1.0], [2.0, 3.0, 1.0, 1.0], 2) == [0.0, 0.0, 2.0, 2.0]


@pytest.mark.parametrize("rho", [0.5, 0.9])
def test_the_model_is_exactly_an_mmc_queue(rho: float) -> None:
    """Every task's simulated wait equals the exact FCFS recursion on the same arrival and work times.

    This separates the model from the sampling noise of the Erlang C comparison: at low load a run's
    mean wait can miss the formula by several percent only because its sample of work times does.
    """
    assert measure(rho, workers=4, tasks=3_000, seed=7).not_fcfs == 0


def test_the_exact_check_catches_a_model_that_is_not_mmc(monkeypatch: pytest.MonkeyPatch) -> None:
    """With 50 ms of network latency a lease reaches its worker late: no longer an M/M/c queue."""
    import sim.erlang

    exact = sim.erlang.mm_c_scenario

    def with_latency(rho: float, workers: int, tasks: int, seed: int, mean_service_s: float = 1.0) -> Scenario:
        scenario = exact(rho, workers, tasks, seed, mean_service_s)
        return scenario.model_copy(update={"topology": scenario.topology.model_copy(update={"latency_s": 0.05})})

    monkeypatch.setattr(sim.erlang, "mm_c_scenario", with_latency)
    assert measure(0.8, workers=4, tasks=500, seed=7).not_fcfs > 0
