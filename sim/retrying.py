"""Retries on the spec's backoff, traced on the spec's ``retry`` machine (seed 4.5, "Retry Handler").

A SimPy driver of :class:`~spec.decisions.backoff.RetryCore`: the core decides whether a failure
is retried and how long the wait is (the policy's delay spread by its jitter -- drawn from the
world's seeded jitter stream -- and capped at ``max_delay_s``); this module only waits and fires.

A call that succeeds at its first attempt is not traced on a retry machine: that would add three
transitions (and a machine) to every call of a busy model. The machine is bound at the first
failure, where ``attempt`` is fired with the first attempt's time in its data, so every delay the
checks read (``fail_retryable`` -> ``retry``) is traced exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from enum import StrEnum
from typing import Any, TypeVar

import simpy

from sim.world import World
from spec.decisions.backoff import NO_SPREAD, RetryCore
from spec.machines.retry import RetryTrigger
from spec.trace import TraceKey

T = TypeVar("T")


class Verdict(StrEnum):
    OK = "ok"
    RETRY = "retry"
    STOP = "stop"


def jitter_draw(world: World) -> float:
    """The next draw of the world's jitter stream, taken only when the policy spreads delays."""
    return world.jitter.random() if world.policies.backoff.jitter > 0 else NO_SPREAD


def retrying(
    world: World,
    component: str,
    attempt: Callable[[], Generator[simpy.Event, Any, T]],
    classify: Callable[[T], Verdict],
    *,
    reason: Callable[[T], str] | None = None,
) -> Generator[simpy.Event, Any, T]:
    """Run `attempt` until it succeeds, fails for good, or the backoff policy's retries are spent."""
    env = world.env
    first = env.now
    core = RetryCore(world.backoff)
    core.started()
    machine = None
    while True:
        result = yield from attempt()
        verdict = classify(result)
        if verdict is Verdict.OK:
            trigger = core.succeeded()
            if machine is not None:
                machine.fire(trigger)
            return result
        if machine is None:
            machine = world.recorder.bind("retry", world.unique(component))
            machine.fire(RetryTrigger.ATTEMPT, {TraceKey.FIRST_ATTEMPT_AT: first})
        decision = core.failed(env.now, retryable=verdict is Verdict.RETRY, draw=jitter_draw(world))
        if decision.delay_s is None:
            machine.fire(decision.trigger, {TraceKey.REASON: reason(result)} if reason is not None else None)
            return result
        machine.fire(decision.trigger, {TraceKey.RETRY: core.retries_done, TraceKey.DELAY_S: decision.delay_s})
        yield env.timeout(decision.delay_s)
        machine.fire(core.retried())
