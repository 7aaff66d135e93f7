"""The bench's yardstick (sim.plain_fleet) models the same events as the harness's fleet hour.

If it scheduled far fewer events, "harness / plain-SimPy model" would flatter the yardstick and
blame the spec for SimPy's own cost; if far more, the reverse.
"""

from __future__ import annotations

import pytest

from sim.bench import fleet_scenario
from sim.model import Model
from sim.plain_fleet import run_plain_fleet


@pytest.mark.parametrize(("workers", "duration_s"), [(20, 600.0), (50, 900.0)])
def test_the_plain_fleet_schedules_the_harness_events_within_two_percent(workers: int, duration_s: float) -> None:
    scenario = fleet_scenario(workers, duration_s)
    model = Model(scenario)
    model.run()
    harness_events = next(model.world.env._eid)
    simulated, plain_events = run_plain_fleet(scenario)
    assert simulated == duration_s
    assert abs(plain_events - harness_events) <= 0.02 * harness_events
