"""Whether a failed task is queued again, and not before when, as a sans-I/O core.

One rule for the store's failure path (`runtime.store.reports`) and anything that checks it:

* the error class a failure report carries is read against the taxonomy (`spec.taxonomy`); a
  name the taxonomy does not know is ``unknown`` ("anything not matched above");
* a class outside ``TaskRetryPolicy.retry_on`` fails the task at once (``fail``);
* attempt ``n`` (1-based: one per lease) with ``n >= max_attempts`` fails it (attempts exhausted);
* otherwise the task is re-queued (``retry``) not before ``now`` plus `BackoffSchedule`'s delay
  for retry ``n`` -- the same schedule, jitter and cap as every other retry of the platform.

The jitter draw is derived from the task id and the attempt (:func:`retry_draw`), not from a
random stream: every replica, a restarted orchestrator and a test compute the same wait.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from spec.decisions.backoff import BackoffSchedule
from spec.policies import DEFAULT_POLICIES, Policies
from spec.task_policies import TaskRetryPolicy
from spec.taxonomy import ErrorClass

_DRAW_BITS = 64


def retry_draw(task_id: str, attempt: int) -> float:
    """A jitter draw in ``[0, 1)`` fixed by (task, attempt): spread across tasks, repeatable for one."""
    digest = hashlib.sha256(f"{task_id}\x00{attempt}".encode()).digest()
    return int.from_bytes(digest[: _DRAW_BITS // 8], "big") / 2.0**_DRAW_BITS


def error_class_of(name: str) -> ErrorClass:
    """The taxonomy class a report names; one the taxonomy does not know is ``unknown``."""
    try:
        return ErrorClass(name)
    except ValueError:
        return ErrorClass.UNKNOWN


@dataclass(frozen=True, slots=True)
class TaskRetryDecision:
    """The trigger a failure fires (``retry`` or a failing one) and, for a retry, its wait and deadline."""

    retry: bool
    #: Why, in words a user reads in the task's events.
    reason: str
    delay_s: float | None = None
    not_before: float | None = None


class TaskRetryRules:
    """The retry decisions of one configuration: the policy, its per-task overrides, the backoff schedule."""

    __slots__ = ("policy", "schedule")

    def __init__(self, policy: TaskRetryPolicy, schedule: BackoffSchedule) -> None:
        self.policy = policy
        self.schedule = schedule

    @classmethod
    def from_policies(cls, policies: Policies = DEFAULT_POLICIES) -> TaskRetryRules:
        return cls(policies.task_retry, BackoffSchedule(policies.backoff))

    def effective(self, override: Mapping[str, Any] | None) -> TaskRetryPolicy:
        """The policy with a task's own ``retry`` fields (validated at submission) over it."""
        if not override:
            return self.policy
        return TaskRetryPolicy.model_validate({**self.policy.model_dump(), **override})

    def decide(self, *, task_id: str, attempt: int, error_class: str, now: float,
               override: Mapping[str, Any] | None = None, draw: float | None = None) -> TaskRetryDecision:
        """Attempt `attempt` (1-based) of `task_id` failed at `now` with an error of `error_class`."""
        if attempt < 1:
            raise ValueError(f"attempts start at 1, got {attempt}")
        policy = self.effective(override)
        klass = error_class_of(error_class)
        if klass not in policy.retry_on:
            return TaskRetryDecision(False, f"{klass.value} errors are not retried (TaskRetryPolicy.retry_on)")
        if attempt >= policy.max_attempts:
            return TaskRetryDecision(False, f"attempt {attempt} of {policy.max_attempts} failed: no attempts left")
        spread = retry_draw(task_id, attempt) if draw is None else draw
        delay = self.schedule.delay_s(attempt, spread)
        return TaskRetryDecision(True, f"attempt {attempt} of {policy.max_attempts} failed with a {klass.value} "
                                 "error: retrying", delay, now + delay)
