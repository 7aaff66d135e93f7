"""Prometheus's ``rate()`` and ``histogram_quantile()`` over scraped samples, sans I/O.

The orchestrator evaluates its own alert rules (``spec.decisions.alert_rules``) and an operator
may load the same rules into Prometheus (``spec.render.prometheus_rules``). For both to say the
same thing on the same data, the orchestrator computes the rules' expressions the way Prometheus
does: it "scrapes" its own counters into a :class:`ScrapedSeries` at every evaluation, and
computes rates over the range ``[now - window, now]`` with Prometheus's extrapolation
(``extrapolatedRate`` in ``promql/functions.go``) and quantiles by linear interpolation inside
the bucket holding the rank (``bucketQuantile`` in ``promql/quantile.go``). Ranges include
their start, as in Prometheus 2 (Debian's, which the tests compare against; Prometheus 3 leaves
the start out, which changes only samples exactly on the edge).

Consequences an operator sees in both places alike: a window with fewer than two samples has no
rate (the series is absent from the result, so an alert on it clears); a counter that stays put
has a rate of 0, and an error ratio over no traffic is ``0/0`` (NaN), which is never above a
threshold.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

#: A series' labels, sorted, hashable.
Labels = tuple[tuple[str, str], ...]

#: Prometheus' default ``--query.lookback-delta``: an instant selector sees the latest sample this old.
LOOKBACK_S = 300.0


def labels_of(labels: Mapping[str, str] | None) -> Labels:
    """The hashable, order-independent form of `labels`."""
    return tuple(sorted((str(k), str(v)) for k, v in (labels or {}).items()))


def extrapolated_rate(samples: Sequence[tuple[float, float]], start: float, end: float) -> float | None:
    """Per-second increase of a counter over ``[start, end]``, as Prometheus's ``rate()`` computes it.

    `samples` are ``(time, value)`` pairs inside the range, in time order. ``None`` with fewer than
    two samples (Prometheus returns no series). Counter resets (a value below the previous one)
    count as a restart from zero. The increase between the first and last sample is extrapolated
    towards the range's edges by at most half the average sample interval, and towards zero no
    further than where the counter would have been 0.
    """
    if len(samples) < 2:
        return None
    first_t, first_v = samples[0]
    last_t, last_v = samples[-1]
    increase = last_v - first_v
    previous = first_v
    for _, value in samples[1:]:
        if value < previous:
            increase += previous
        previous = value
    sampled = last_t - first_t
    if sampled <= 0:
        return None
    to_start = first_t - start
    to_end = end - last_t
    average = sampled / (len(samples) - 1)
    if increase > 0 and first_v >= 0:
        to_zero = sampled * (first_v / increase)
        to_start = min(to_start, to_zero)
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    return increase * (interval / sampled) / (end - start)


def histogram_quantile(quantile: float, buckets: Iterable[tuple[float, float]]) -> float:
    """The `quantile` of a histogram given as ``(upper bound, cumulative count)`` buckets.

    Prometheus's ``histogram_quantile``: NaN without a ``+Inf`` bucket, with fewer than two
    buckets or no observations; the rank's bucket is interpolated linearly from its lower bound
    (0 for the first bucket); a rank in the ``+Inf`` bucket answers the highest finite bound.
    Counts that decrease with the bound (rates of separately scraped buckets) are made monotonic.
    """
    if math.isnan(quantile):
        return math.nan
    if quantile < 0:
        return -math.inf
    if quantile > 1:
        return math.inf
    merged: dict[float, float] = {}
    for bound, count in buckets:
        merged[bound] = merged.get(bound, 0.0) + count
    ordered = sorted(merged.items())
    if len(ordered) < 2 or ordered[-1][0] != math.inf:
        return math.nan
    bounds = [b for b, _ in ordered]
    counts: list[float] = []
    for _, count in ordered:
        counts.append(max(count, counts[-1]) if counts else count)
    observations = counts[-1]
    if observations == 0 or math.isnan(observations):
        return math.nan
    rank = quantile * observations
    b = bisect.bisect_left(counts, rank)
    if b == len(counts) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[b], counts[b]
    if b > 0:
        start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return start + (end - start) * (rank / count)


@dataclass(frozen=True)
class Series:
    """One scraped series: a metric name (with ``_bucket``/``_count`` suffix) and its labels."""

    name: str
    labels: Labels


class ScrapedSeries:
    """Samples of scraped series, kept for ``retention_s`` and at most ``max_samples`` per series.

    Bounded by design: samples older than the retention are dropped, and a sample that lands
    within ``min_gap_s`` of the one before the newest replaces the newest. That keeps every second
    sample at least ``min_gap_s`` apart, so ``min_gap_s = 2 * retention_s / (max_samples - 1)``
    lets ``max_samples`` samples span the whole retention, however often a caller scrapes (an
    alerts endpoint polled in a loop); with half that gap the deque's bound cut the oldest off.
    """

    def __init__(self, retention_s: float, *, max_samples: int = 256) -> None:
        if retention_s <= 0:
            raise ValueError(f"retention_s must be > 0, got {retention_s}")
        if max_samples < 2:
            raise ValueError(f"max_samples must be >= 2 (a rate needs two samples), got {max_samples}")
        self.retention_s = retention_s
        self.max_samples = max_samples
        self.min_gap_s = 2 * retention_s / (max_samples - 1)
        self._samples: dict[Series, deque[tuple[float, float]]] = {}

    def scraped(self, at: float, samples: Iterable[tuple[str, Labels, float]]) -> None:
        """One whole scrape at `at`: its samples, and a staleness marker for every series it lacks.

        As in Prometheus, a series that disappears from the scrape (a worker out of rotation) is
        absent from instant selectors at once rather than for the lookback delta.
        """
        seen: set[Series] = set()
        for name, labels, value in samples:
            self.add(name, labels, at, value)
            seen.add(Series(name, labels))
        for key, kept in self._samples.items():
            if key not in seen and kept and not math.isnan(kept[-1][1]) and at > kept[-1][0]:
                kept.append((at, math.nan))
        self.prune(at)

    def add(self, name: str, labels: Labels, at: float, value: float) -> None:
        """One sample; samples of a series must come in time order. NaN is a staleness marker."""
        key = Series(name, labels)
        samples = self._samples.get(key)
        if samples is None:
            samples = self._samples[key] = deque(maxlen=self.max_samples)
        if samples and at < samples[-1][0]:
            raise ValueError(f"sample of {name} at {at} is older than the previous one ({samples[-1][0]})")
        if samples and (at == samples[-1][0] or (len(samples) >= 2 and at - samples[-2][0] < self.min_gap_s)):
            samples.pop()
        samples.append((at, float(value)))

    def prune(self, now: float) -> None:
        """Forget samples older than the retention, and series left without any."""
        horizon = now - self.retention_s
        for key in list(self._samples):
            samples = self._samples[key]
            while samples and samples[0][0] < horizon:
                samples.popleft()
            if not samples or (len(samples) == 1 and math.isnan(samples[0][1])):
                del self._samples[key]

    def series(self, name: str) -> Iterator[Series]:
        return (key for key in self._samples if key.name == name)

    def in_range(self, key: Series, start: float, end: float) -> list[tuple[float, float]]:
        """Samples of `key` in ``[start, end]``, staleness markers left out."""
        return [s for s in self._samples.get(key, ()) if start <= s[0] <= end and not math.isnan(s[1])]

    def rate(self, name: str, now: float, window_s: float) -> dict[Labels, float]:
        """``rate(name[window])`` at `now`: one value per series with at least two samples in range."""
        out: dict[Labels, float] = {}
        for key in self.series(name):
            value = extrapolated_rate(self.in_range(key, now - window_s, now), now - window_s, now)
            if value is not None:
                out[key.labels] = value
        return out

    def latest(self, name: str, now: float, lookback_s: float = LOOKBACK_S) -> dict[Labels, float]:
        """The instant selector ``name`` at `now`: each series' latest sample no older than `lookback_s`."""
        out: dict[Labels, float] = {}
        for key in self.series(name):
            recent = [s for s in self._samples[key] if now - lookback_s <= s[0] <= now]
            if recent and not math.isnan(recent[-1][1]):
                out[key.labels] = recent[-1][1]
        return out


def sum_by(vector: Mapping[Labels, float], by: Sequence[str]) -> dict[Labels, float]:
    """PromQL ``sum by (by...)``: values added up per combination of the `by` labels."""
    out: dict[Labels, float] = {}
    for labels, value in vector.items():
        have = dict(labels)
        key = tuple((name, have.get(name, "")) for name in sorted(by) if have.get(name, "") != "")
        out[key] = out.get(key, 0.0) + value
    return out


def max_by(vector: Mapping[Labels, float], by: Sequence[str]) -> dict[Labels, float]:
    """PromQL ``max by (by...)``."""
    out: dict[Labels, float] = {}
    for labels, value in vector.items():
        have = dict(labels)
        key = tuple((name, have.get(name, "")) for name in sorted(by) if have.get(name, "") != "")
        out[key] = max(out.get(key, -math.inf), value)
    return out


def matching(vector: Mapping[Labels, float], **wanted: str) -> dict[Labels, float]:
    """The series of `vector` whose labels equal `wanted` (PromQL ``{name="value"}``)."""
    return {labels: v for labels, v in vector.items() if all(dict(labels).get(k) == w for k, w in wanted.items())}


def divide(numerator: Mapping[Labels, float], denominator: Mapping[Labels, float]) -> dict[Labels, float]:
    """PromQL ``a / b`` on matching label sets; ``0/0`` is NaN, as in Prometheus."""
    out: dict[Labels, float] = {}
    for labels, bottom in denominator.items():
        if labels not in numerator:
            continue
        top = numerator[labels]
        out[labels] = top / bottom if bottom != 0 else (math.nan if top == 0 else math.copysign(math.inf, top))
    return out


__all__ = [
    "LOOKBACK_S",
    "Labels",
    "ScrapedSeries",
    "Series",
    "divide",
    "extrapolated_rate",
    "histogram_quantile",
    "labels_of",
    "matching",
    "max_by",
    "sum_by",
]
