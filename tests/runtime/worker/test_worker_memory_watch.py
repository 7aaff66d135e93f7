"""A worker's memory growth (runtime.worker.memory_watch): one escalation per episode at the rule's level."""

from __future__ import annotations

import asyncio

from runtime.escalation_config import WorkerEscalationRoutes
from runtime.resilience import CallbackHook, Escalation
from runtime.worker.escalation import worker_escalator
from runtime.worker.memory_watch import RULE, MemoryWatch
from spec.policies import DEFAULT_POLICIES, MemoryGrowthPolicy


def test_growth_past_the_rules_threshold_escalates_once_until_it_settles() -> None:
    policies = DEFAULT_POLICIES.model_copy(update={"memory_growth": MemoryGrowthPolicy(window_s=60, min_samples=3)})
    escalations: list[Escalation] = []
    escalator = worker_escalator(WorkerEscalationRoutes(via_orchestrator=False), policies.alerts,
                                 client=lambda: None, worker_id=lambda: "w1")
    for level in escalator.levels:
        escalator.add_hook(level, CallbackHook(escalations.append))
    now, rss = [0.0], [100.0 * 2**20]

    async def scenario() -> None:
        watch = MemoryWatch(policies, escalator, lambda: "w1", clock=lambda: now[0], rss=lambda: rss[0])
        for _ in range(10):  # doubling every window
            watch.sample()
            now[0] += 10.0
            rss[0] += 20 * 2**20
            await asyncio.sleep(0)
        for _ in range(10):  # flat again
            watch.sample()
            now[0] += 10.0
            await asyncio.sleep(0)
        assert watch.growth is not None and watch.growth < watch.rule.threshold and not watch.alarm.active

    asyncio.run(scenario())
    rule = policies.alerts.rule(RULE)
    (escalation,) = escalations
    assert escalation.level == rule.escalation_level and escalation.details["rule"] == RULE
    assert "w1" in escalation.reason and escalation.source == "worker:w1"
