"""rate() and histogram_quantile() as Prometheus computes them (spec.decisions.promql)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spec.decisions.promql import (
    ScrapedSeries,
    divide,
    extrapolated_rate,
    histogram_quantile,
    labels_of,
    max_by,
    sum_by,
)
from spec.metrics import call_duration_buckets

#: prometheus_client's default buckets: what the call histogram had before issue 13.
CLIENT_DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, math.inf)


def buckets_of(durations: list[float], bounds: tuple[float, ...]) -> list[tuple[float, float]]:
    return [(b, float(sum(1 for d in durations if d <= b))) for b in bounds]


def test_p95_regression_2_425_against_1_5() -> None:
    """Issue 13: all calls at 1.5 s interpolate to 2.425 s in (1, 2.5] — above the 2 s threshold —
    while with the threshold as a bucket edge the rank falls in (1, 2] and p95 is 1.95 s."""
    durations = [1.5] * 100
    assert histogram_quantile(0.95, buckets_of(durations, CLIENT_DEFAULT_BUCKETS)) == pytest.approx(2.425)
    assert histogram_quantile(0.95, buckets_of(durations, call_duration_buckets())) == pytest.approx(1.95)


def test_quantile_edge_cases_follow_prometheus() -> None:
    assert math.isnan(histogram_quantile(0.5, [(1.0, 3.0)]))  # no +Inf bucket
    assert math.isnan(histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]))  # no observations
    assert histogram_quantile(-0.1, [(1.0, 1.0), (math.inf, 1.0)]) == -math.inf
    assert histogram_quantile(1.1, [(1.0, 1.0), (math.inf, 1.0)]) == math.inf
    assert histogram_quantile(0.99, [(1.0, 1.0), (math.inf, 10.0)]) == 1.0  # rank in +Inf: highest finite bound
    assert histogram_quantile(0.5, [(2.0, 3.0), (1.0, 4.0), (math.inf, 4.0)]) == pytest.approx(0.5)  # monotonic fix
    assert math.isnan(histogram_quantile(math.nan, [(1.0, 1.0), (math.inf, 1.0)]))


@settings(max_examples=200, deadline=None)
@given(
    durations=st.lists(st.floats(min_value=0, max_value=5000), min_size=1, max_size=60),
    quantile=st.sampled_from([0.5, 0.9, 0.95, 0.99]),
)
def test_above_a_threshold_edge_exactly_when_too_few_calls_are_within_it(
    durations: list[float], quantile: float
) -> None:
    """With the threshold as an edge, histogram_quantile > threshold ⇔ fewer than q·n calls took ≤ threshold."""
    bounds = call_duration_buckets()
    value = histogram_quantile(quantile, buckets_of(durations, bounds))
    for threshold in (2.0, 1.0, 10.0):
        within = sum(1 for d in durations if d <= threshold)
        assert (value > threshold) == (within < quantile * len(durations))


def test_rate_of_a_steady_counter_and_of_an_idle_one() -> None:
    samples = [(t * 15.0, t * 3.0) for t in range(5)]  # 3 per 15 s, the whole window sampled
    assert extrapolated_rate(samples, 0.0, 60.0) == pytest.approx(0.2)
    assert extrapolated_rate([(0.0, 7.0), (15.0, 7.0), (30.0, 7.0)], 0.0, 60.0) == 0.0
    assert extrapolated_rate([(30.0, 7.0)], 0.0, 60.0) is None  # one sample: no rate at all
    # A reset counts as a restart from zero: 5 → 2 is an increase of 2 after the 5.
    assert extrapolated_rate([(0.0, 0.0), (30.0, 5.0), (60.0, 2.0)], 0.0, 60.0) == pytest.approx(7 / 60)


@settings(max_examples=150, deadline=None)
@given(
    increments=st.lists(st.integers(0, 20), min_size=2, max_size=30),
    start=st.floats(min_value=0, max_value=100),
)
def test_rate_never_negative_and_extrapolates_at_most_1_1_steps_past_the_data(
    increments: list[int], start: float
) -> None:
    step = 15.0
    values = [float(sum(increments[: i + 1])) for i in range(len(increments))]
    samples = [(start + i * step, v) for i, v in enumerate(values)]
    window = (len(samples) + 4) * step
    end = samples[-1][0]
    rate = extrapolated_rate(samples, end - window, end)
    assert rate is not None and rate >= 0
    increase = values[-1] - values[0]
    sampled = samples[-1][0] - samples[0][0]
    # Prometheus extends to the window's edge only if it is within 1.1 average intervals (here the
    # start, or where the counter would have been zero), else by half an interval.
    assert rate * window <= increase * (sampled + 1.1 * step) / sampled + 1e-9
    assert rate * window >= increase - 1e-9


def test_scraped_series_staleness_retention_and_bounds() -> None:
    store = ScrapedSeries(60.0, max_samples=3)
    gauge = labels_of({"worker_id": "w1"})
    store.scraped(0.0, [("g", gauge, 0.5), ("c", (), 1.0)])
    store.scraped(15.0, [("c", (), 2.0)])  # the gauge's series left the scrape: stale at once
    assert store.latest("g", 15.0) == {} and store.latest("c", 15.0) == {(): 2.0}
    for t in (30.0, 45.0, 60.0):
        store.scraped(t, [("c", (), t)])
    assert len(store.in_range(next(store.series("c")), 0.0, 60.0)) == 3  # at most max_samples kept
    store.scraped(200.0, [])
    assert list(store.series("c")) == []  # only a staleness marker left, past the retention
    with pytest.raises(ValueError, match="older"):
        store.add("c", (), 100.0, 1.0)
        store.add("c", (), 99.0, 1.0)
    with pytest.raises(ValueError, match="retention_s"):
        ScrapedSeries(0)
    with pytest.raises(ValueError, match="max_samples"):
        ScrapedSeries(1.0, max_samples=1)


def test_vector_operations() -> None:
    a = {labels_of({"service": "s", "outcome": "error"}): 1.0, labels_of({"service": "s", "outcome": "ok"}): 3.0}
    assert sum_by(a, ("service",)) == {labels_of({"service": "s"}): 4.0}
    assert max_by(a, ()) == {(): 3.0}
    x, y = labels_of({"x": "1"}), labels_of({"y": "2"})
    ratio = divide({(): 0.0, x: 2.0}, {(): 0.0, x: 0.0, y: 1.0})
    assert math.isnan(ratio[()]) and ratio[x] == math.inf and len(ratio) == 2


@settings(max_examples=60, deadline=None)
@given(gaps=st.lists(st.floats(min_value=0.001, max_value=5.0), min_size=1, max_size=400))
def test_frequent_scrapes_are_thinned_not_truncated(gaps: list[float]) -> None:
    """However often a series is scraped, its samples stay bounded and still span the retention."""
    store = ScrapedSeries(60.0, max_samples=16)
    at = 0.0
    for gap in gaps:
        at += gap
        store.add("c", (), at, at)
    kept = store.in_range(next(store.series("c")), -1.0, at)
    assert len(kept) <= 16 and kept[-1] == (at, at)
    assert kept[0][0] <= max(gaps[0], at - 60.0 + store.min_gap_s * 2)
