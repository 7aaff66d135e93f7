"""Request/response over a simulated link to the orchestrator (worker and client HTTP calls).

A request can be lost on the way out (the caller waits its timeout), refused because the
orchestrator is down, or answered and the answer lost on the way back: then the server *did*
the work but the caller times out, which is why reports are idempotent and fenced.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import simpy

from sim.world import ORCH_ID, Reply, World

if TYPE_CHECKING:
    from sim.orchestrator import Orchestrator

Handler = Callable[[], Generator[simpy.Event, Any, tuple[Reply, Any]]]


def request(
    world: World, orchestrator: Orchestrator, sender: str, worker: int | None, handler: Handler, timeout: float
) -> Generator[simpy.Event, Any, tuple[Reply, Any]]:
    env = world.env
    sent = env.now
    delivered, delay = world.transit(sender, ORCH_ID, worker)
    if not delivered:
        yield env.timeout(timeout)
        return Reply.LOST, None
    if delay > 0:
        yield env.timeout(delay)
    if not orchestrator.up:
        return Reply.UNAVAILABLE, None  # connection refused
    incarnation = orchestrator.incarnation
    reply, payload = yield from handler()
    if orchestrator.incarnation != incarnation:
        return Reply.UNAVAILABLE, None  # the process died while handling: connection reset
    delivered, delay = world.transit(ORCH_ID, sender, worker)
    if not delivered:
        remaining = timeout - (env.now - sent)
        if remaining > 0:
            yield env.timeout(remaining)
        return Reply.LOST, None
    if delay > 0:
        yield env.timeout(delay)
    return reply, payload
