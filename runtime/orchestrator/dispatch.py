"""Long-poll waiting and least-loaded hand-out (seed 4.2 Load Balancer ``calculateWorkerLoad``).

Workers pull: a poll leases the best task *for that worker* (`runtime.store.queue`). When
several workers wait in a long poll and new work arrives, they are woken least-loaded first
(running tasks / max concurrency, then longest waiting); the store's write lock is FIFO, so
the least-loaded worker gets the first chance to lease.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field


@dataclass(order=True)
class _Waiter:
    load: float
    seq: int
    future: asyncio.Future[None] = field(compare=False)


class LeaseDispatcher:
    """Parks long-polling workers and wakes them when tasks become leasable."""

    def __init__(self) -> None:
        self._waiters: list[_Waiter] = []
        self._seq = itertools.count()
        self.paused = False

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def wait_for_work(self, load: float, timeout_s: float) -> None:
        """Return when work may be available, the queue pauses, or `timeout_s` passes."""
        if self.paused or timeout_s <= 0:
            return
        waiter = _Waiter(load, next(self._seq), asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter.future), timeout_s)
        except TimeoutError:
            pass
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def notify(self) -> None:
        """New or re-queued tasks: wake every waiter, least-loaded first."""
        waiters, self._waiters = sorted(self._waiters), []
        for waiter in waiters:
            if not waiter.future.done():
                waiter.future.set_result(None)

    def pause(self) -> None:
        """Shutdown ``pause()``: grant no more leases and release every long poll."""
        self.paused = True
        self.notify()
