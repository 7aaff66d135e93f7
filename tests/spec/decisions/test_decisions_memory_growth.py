"""Memory growth fitted over a window (spec.decisions.memory_growth) and one alarm per episode."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec.decisions.memory_growth import MemoryGrowth, MemoryGrowthAlarm
from spec.policies import DEFAULT_POLICIES, MemoryGrowthPolicy

POLICY = MemoryGrowthPolicy(window_s=100.0, min_samples=5)


def test_nothing_is_reported_before_enough_samples_cover_half_the_window() -> None:
    growth = MemoryGrowth(POLICY)
    assert [growth.observe(100.0 + t, float(t)) for t in range(0, 50, 10)] == [None] * 5  # 40 s covered
    assert growth.observe(150.0, 50.0) is not None


@settings(max_examples=40)
# A shrinking process loses at most 0.3 of its size per window, so over the three windows sampled
# it never reaches a negative size (which the detector refuses).
@given(start=st.floats(1e6, 1e10), rate=st.floats(-0.3, 3.0), step=st.floats(2.0, 20.0))
def test_a_steady_trend_is_measured_as_its_growth_per_window(start: float, rate: float, step: float) -> None:
    growth = MemoryGrowth(POLICY)
    slope = rate * start / POLICY.window_s
    times = [i * step for i in range(int(3 * POLICY.window_s / step))]
    found = [growth.observe(start + slope * now, now) for now in times][-1]
    assert found is not None
    # Growth per window relative to the fitted size at the oldest sample still in the window.
    oldest = min(t for t in times if t >= times[-1] - POLICY.window_s)
    assert math.isclose(found, slope * POLICY.window_s / (start + slope * oldest), rel_tol=1e-6, abs_tol=1e-9)


def test_a_flat_process_with_one_spike_does_not_grow_much() -> None:
    growth = MemoryGrowth(POLICY)
    values = [200.0] * 20
    values[10] = 400.0  # one burst, collected again
    found = [growth.observe(v, float(t * 5)) for t, v in enumerate(values)][-1]
    assert found is not None and abs(found) < DEFAULT_POLICIES.alerts.rule("MemoryGrowth").threshold


def test_samples_older_than_the_window_are_forgotten_and_order_is_enforced() -> None:
    growth = MemoryGrowth(POLICY)
    for t in range(0, 100, 10):
        growth.observe(100.0 + 10 * t, float(t))  # growing fast
    for t in range(100, 260, 10):
        last = growth.observe(1100.0, float(t))  # then flat for more than a window
    assert last == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="time order"):
        growth.observe(1.0, 10.0)
    with pytest.raises(ValueError, match="rss_bytes"):
        growth.observe(-1.0, 300.0)


@given(values=st.lists(st.one_of(st.none(), st.floats(-1, 2)), max_size=40), threshold=st.floats(0.1, 1.0))
def test_the_alarm_fires_once_per_episode(values: list[float | None], threshold: float) -> None:
    alarm = MemoryGrowthAlarm(threshold)
    above = False
    for value in values:
        now_above = value is not None and value > threshold
        edge = alarm.update(value)
        assert edge == (now_above if now_above != above else None)
        above = now_above
        assert alarm.active == above
