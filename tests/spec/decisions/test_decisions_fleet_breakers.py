"""The fleet-wide breaker state (spec.decisions.fleet_breakers)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from spec.decisions.fleet_breakers import fleet_state, fleet_states, open_reporters
from spec.machines.circuit_breaker import BreakerState

STATES = st.sampled_from(list(BreakerState))
WORKERS = st.sampled_from(["w1", "w2", "w3", "w4"])
SERVICES = st.sampled_from(["ai", "git"])
REPORTS = st.dictionaries(WORKERS, st.dictionaries(SERVICES, STATES, max_size=2), max_size=4)
ROTATION = st.sets(WORKERS)


@given(REPORTS, ROTATION)
def test_open_exactly_when_a_worker_in_rotation_reports_open(reports: dict[str, dict[str, BreakerState]],
                                                           rotation: set[str]) -> None:
    fleet = fleet_states(reports, rotation)
    for service, state in fleet.items():
        counted = [s[service] for w, s in reports.items() if w in rotation and service in s]
        assert (state is BreakerState.OPEN) == (BreakerState.OPEN in counted)
        assert (state is BreakerState.CLOSED) == all(s is BreakerState.CLOSED for s in counted)
        assert bool(open_reporters(reports, rotation, service)) == (state is BreakerState.OPEN)


@given(REPORTS, ROTATION, WORKERS)
def test_a_worker_out_of_rotation_never_changes_the_fleet(reports: dict[str, dict[str, BreakerState]],
                                                         rotation: set[str], leaver: str) -> None:
    without = {w: s for w, s in reports.items() if w != leaver}
    fleet = fleet_states(reports, rotation - {leaver})
    reduced = fleet_states(without, rotation - {leaver})
    for service, state in fleet.items():
        assert state is reduced.get(service, BreakerState.CLOSED)


@given(REPORTS, ROTATION)
def test_every_reported_service_has_a_state_and_leaving_rotation_clears_it(
        reports: dict[str, dict[str, BreakerState]], rotation: set[str]) -> None:
    services = {s for states in reports.values() for s in states}
    assert set(fleet_states(reports, rotation)) == services
    assert all(state is BreakerState.CLOSED for state in fleet_states(reports, set()).values())


@given(st.lists(STATES))
def test_the_fleet_state_ignores_order_and_repetition(states: list[BreakerState]) -> None:
    assert fleet_state(states) is fleet_state(reversed(states)) is fleet_state(states + states)


def test_half_open_wins_over_closed_and_nothing_reported_is_closed() -> None:
    assert fleet_state(["closed", "half_open"]) is BreakerState.HALF_OPEN
    assert fleet_state(["half_open", "open", "closed"]) is BreakerState.OPEN
    assert fleet_state([]) is BreakerState.CLOSED


def test_an_unknown_state_is_refused_even_from_a_worker_out_of_rotation() -> None:
    with pytest.raises(ValueError, match="sideways"):
        fleet_states({"w1": {"ai": "sideways"}}, set())
