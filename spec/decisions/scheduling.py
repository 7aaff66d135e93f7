"""Which queued tasks a polling worker gets (seed 4.2 "Load Balancer", 4.3), as a sans-I/O core.

The rule, read once:

* **capability**: a worker may run a task only if it offers every capability the task requires;
* **load**: a poll leases at most what it asked for and at most the worker's free slots
  (``max_concurrency - running``); a worker out of rotation gets nothing (the store checks its
  state on the `worker_lifecycle` machine);
* **priority with aging**: tasks are served in order of their *virtual enqueue time*
  ``enqueued_at - priority * LeasePolicy.aging_interval_s``: waiting ``aging_interval_s`` is
  worth one priority level, without bound, so low-priority work is never starved by a stream
  of newer high-priority work. Ties go to the smaller task id, so the order is total. A
  submission's priority is at most ``LeasePolicy.max_priority`` (the protocol's bound).

Because the order is a value fixed at submission, the store keeps it as an indexed column
(``tasks.sort_key``) and leases with one ordered index scan whatever the queue length; its SQL
is the indexed form of :func:`choose`, and a differential property test holds the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from spec.policies import DEFAULT_POLICIES, LeasePolicy


def sort_key(enqueued_at: float, priority: int, aging_interval_s: float) -> float:
    """Virtual enqueue time: each priority level counts as `aging_interval_s` seconds of waiting."""
    return enqueued_at - priority * aging_interval_s


def can_run(required: Iterable[str], offered: Iterable[str]) -> bool:
    """A worker offering `offered` capabilities may run a task requiring `required`."""
    return set(required) <= set(offered)


def lease_size(asked: int, max_concurrency: int, running: int) -> int:
    """How many tasks one poll may lease: what it asked for, within the worker's free slots."""
    return max(0, min(asked, max_concurrency - running))


@dataclass(frozen=True, slots=True)
class QueuedTask:
    """What the rule reads of a queued task."""

    id: str
    enqueued_at: float
    priority: int
    required: frozenset[str] = frozenset()

    def key(self, aging_interval_s: float) -> tuple[float, str]:
        return sort_key(self.enqueued_at, self.priority, aging_interval_s), self.id


def choose(queued: Sequence[QueuedTask], offered: Iterable[str], asked: int, max_concurrency: int, running: int,
           policy: LeasePolicy = DEFAULT_POLICIES.lease) -> list[str]:
    """The ids a poll leases, best first: the reference form of the store's leasing query."""
    capabilities = frozenset(offered)
    runnable = [t for t in queued if can_run(t.required, capabilities)]
    runnable.sort(key=lambda t: t.key(policy.aging_interval_s))
    return [t.id for t in runnable[:lease_size(asked, max_concurrency, running)]]
