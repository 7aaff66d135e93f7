"""A worker's memory-growth detection (issue 14), driven by its heartbeat loop.

Each heartbeat samples the worker process's resident set size into `spec.decisions.memory_growth`.
No alert evaluator runs on a worker, so the ``MemoryGrowth`` alert rule's threshold is applied here
(`MemoryGrowthAlarm`): the first sample above it logs a warning and escalates at the rule's level
(through the orchestrator by default, `runtime.worker.escalation`), once per episode; coming back
below it is logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import psutil

from runtime.resilience.escalation import EscalationOutcome, Escalator
from spec.decisions.memory_growth import MemoryGrowth, MemoryGrowthAlarm
from spec.policies import Policies

log = logging.getLogger("runtime.worker.memory")

#: The alert rule whose threshold and level apply to a worker's growth.
RULE = "MemoryGrowth"


class MemoryWatch:
    """Samples, detects and escalates one worker process's memory growth."""

    def __init__(self, policies: Policies, escalator: Escalator, worker_id: Callable[[], str], *,
                 clock: Callable[[], float] = time.monotonic,
                 rss: Callable[[], float] = lambda: float(psutil.Process().memory_info().rss)) -> None:
        self.rule = policies.alerts.rule(RULE)
        self.detector = MemoryGrowth(policies.memory_growth)
        self.alarm = MemoryGrowthAlarm(self.rule.threshold)
        self._escalator = escalator
        self._worker_id = worker_id
        self._clock = clock
        self._rss = rss
        self._delivering: set[asyncio.Task[EscalationOutcome]] = set()
        self.growth: float | None = None

    def sample(self) -> float | None:
        """One sample (each heartbeat); escalates when the growth just went above the rule's threshold."""
        rss = self._rss()
        self.growth = self.detector.observe(rss, self._clock())
        edge = self.alarm.update(self.growth)
        if edge is True:
            reason = (f"worker {self._worker_id()}: resident memory grows by {self.growth:.0%} per "
                      f"{self.detector.policy.window_s:g} s (now {rss / 2**20:.0f} MiB); above the {RULE} rule's "
                      f"{self.rule.threshold:.0%}")
            log.warning("%s", reason)
            task = asyncio.get_running_loop().create_task(self._escalator.escalate(
                self.rule.escalation_level, reason, source=f"worker:{self._worker_id()}",
                details={"workerId": self._worker_id(), "rule": RULE, "growth": f"{self.growth:.4f}"}))
            self._delivering.add(task)
            task.add_done_callback(self._delivered)
        elif edge is False:
            log.info("worker memory growth back below the %s rule's threshold", RULE)
        return self.growth

    def _delivered(self, task: asyncio.Task[EscalationOutcome]) -> None:
        self._delivering.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("escalating memory growth failed: %s", task.exception())

    def cancel(self) -> None:
        for task in list(self._delivering):
            task.cancel()


__all__ = ["RULE", "MemoryWatch"]
