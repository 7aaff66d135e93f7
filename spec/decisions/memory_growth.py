"""Memory-growth detection (issue 14) as a sans-I/O core: resident-set samples with explicit ``now`` in,
the growth over ``MemoryGrowthPolicy.window_s`` out.

The growth is the least-squares slope of the samples in the window, times the window, divided by the
fitted size at the window's start: ``0.5`` means "on this trend the process grows by half every window".
A fitted line, not first and last sample, so one garbage collection or one burst does not decide it. No
growth is reported (``None``) before ``min_samples`` samples covering half the window: a process that
just started is not leaking. Whether a growth alerts is the ``MemoryGrowth`` alert rule's threshold
(`MemoryGrowthAlarm` applies it where no alert evaluator runs: on a worker).
"""

from __future__ import annotations

from collections import deque

from spec.operations_policies import MemoryGrowthPolicy


class MemoryGrowth:
    """The samples of one process within the window, and the growth they show."""

    def __init__(self, policy: MemoryGrowthPolicy) -> None:
        self.policy = policy
        self._samples: deque[tuple[float, float]] = deque()

    def observe(self, rss_bytes: float, now: float) -> float | None:
        """Add the sample taken at `now`; the growth over the window, or ``None`` while too few samples."""
        if rss_bytes < 0:
            raise ValueError(f"rss_bytes must be >= 0, got {rss_bytes}")
        if self._samples and now < self._samples[-1][0]:
            raise ValueError(f"samples must come in time order: {now} is before {self._samples[-1][0]}")
        self._samples.append((now, float(rss_bytes)))
        while self._samples[0][0] < now - self.policy.window_s:
            self._samples.popleft()
        return self.growth()

    def growth(self) -> float | None:
        samples = self._samples
        if len(samples) < self.policy.min_samples or samples[-1][0] - samples[0][0] < self.policy.window_s / 2:
            return None
        count = len(samples)
        mean_t = sum(t for t, _ in samples) / count
        mean_v = sum(v for _, v in samples) / count
        spread = sum((t - mean_t) ** 2 for t, _ in samples)
        if spread == 0:  # pragma: no cover - excluded by the half-window condition
            return None
        slope = sum((t - mean_t) * (v - mean_v) for t, v in samples) / spread
        start = mean_v + slope * (samples[0][0] - mean_t)
        if start <= 0:
            return None  # a fitted size of nothing at the start: no ratio to speak of
        return slope * self.policy.window_s / start


class MemoryGrowthAlarm:
    """Rising and falling edges of growth above a threshold: one alert per episode, not per sample."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.active = False

    def update(self, growth: float | None) -> bool | None:
        """True when growth just went above the threshold, False when it just came back, else ``None``."""
        above = growth is not None and growth > self.threshold
        if above == self.active:
            return None
        self.active = above
        return above


__all__ = ["MemoryGrowth", "MemoryGrowthAlarm"]
