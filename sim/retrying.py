"""Retries with the spec's backoff, traced on the spec's ``retry`` machine (seed 4.5, "Retry Handler").

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

T = TypeVar("T")


class Verdict(StrEnum):
    OK = "ok"
    RETRY = "retry"
    STOP = "stop"


def backoff_delay(world: World, retry: int) -> float:
    """The policy's delay before retry `retry`, with the policy's jitter drawn from a seeded stream."""
    policy = world.policies.backoff
    delay = policy.delay_s(retry)
    if policy.jitter > 0:
        delay *= 1 + policy.jitter * (2 * world.jitter.random() - 1)
    return delay


def retrying(
    world: World,
    component: str,
    attempt: Callable[[], Generator[simpy.Event, Any, T]],
    classify: Callable[[T], Verdict],
    *,
    reason: Callable[[T], str] | None = None,
) -> Generator[simpy.Event, Any, T]:
    """Run `attempt` until it succeeds, fails for good, or the backoff policy's retries are spent."""
    policy = world.policies.backoff
    env = world.env
    first = env.now
    machine = None
    retries = 0
    while True:
        result = yield from attempt()
        verdict = classify(result)
        if verdict is Verdict.OK:
            if machine is not None:
                machine.fire("succeed")
            return result
        if machine is None:
            machine = world.recorder.bind("retry", world.unique(component))
            machine.fire("attempt", {"first_attempt_at": first})
        why = {"reason": reason(result)} if reason is not None else None
        if verdict is Verdict.STOP:
            machine.fire("fail_permanent", why)
            return result
        if not policy.should_retry(retries):
            machine.fire("give_up", why)
            return result
        retries += 1
        delay = backoff_delay(world, retries)
        machine.fire("fail_retryable", {"retry": retries, "delay_s": delay})
        yield env.timeout(delay)
        machine.fire("retry")
