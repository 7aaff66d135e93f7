"""Retries of a failed task: how many attempts a task gets and which failures earn another.

Part of `spec.policies` (which re-exports it and holds it in `Policies` as ``task_retry``). The
wait between attempts is not written here: it is `BackoffPolicy`'s schedule, through the one
backoff core (`spec.decisions.backoff`), and the decision itself is `spec.decisions.task_retry`.
A submission may override these fields for its own task (``"retry": {...}`` on the request).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from spec.policy_base import Policy
from spec.taxonomy import TAXONOMY, ErrorClass

#: Most attempts any task may be given, by the policy or by a submission's override.
MAX_TASK_ATTEMPTS = 100

#: The classes the taxonomy retries on `BackoffPolicy`'s schedule (``retries_with_backoff``).
BACKOFF_RETRIED_CLASSES: tuple[ErrorClass, ...] = tuple(
    row.error_class for row in TAXONOMY if row.retries_with_backoff
)


class TaskRetryPolicy(Policy):
    """A failed task is queued again while it has attempts left and its error class is retried;
    the wait before attempt ``n + 1`` is `BackoffPolicy`'s delay for retry ``n`` (jitter included).
    An attempt is one lease: a lease lost to a dead worker also uses one, but only a failure report
    can exhaust them (a lost lease is always re-queued)."""

    max_attempts: int = Field(1, ge=1, le=MAX_TASK_ATTEMPTS,
                              description="Attempts a task gets in all, the first included; 1 = never retried.")
    retry_on: tuple[ErrorClass, ...] = Field(
        BACKOFF_RETRIED_CLASSES, max_length=len(ErrorClass),
        description="Error classes (spec.taxonomy) whose failures are retried; others fail the task at once.")

    @field_validator("retry_on")
    @classmethod
    def _distinct(cls, value: tuple[ErrorClass, ...]) -> tuple[ErrorClass, ...]:
        if len(set(value)) != len(value):
            raise ValueError("retry_on lists an error class twice")
        return value
