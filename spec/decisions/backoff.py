"""When a retry fires and how long it waits (seed 4.5, "Network Errors"), as a sans-I/O core.

One rule for the runtime's retry handler, the simulator's retries and registrations, and the
conformance checker:

* the delay before retry ``n`` is ``BackoffPolicy.delay_s(n)`` spread by ``jitter``: the driver
  draws ``u`` uniformly from ``[0, 1)`` on its own seeded stream and the delay is
  ``delay_s(n) * (1 + jitter * (2u - 1))``, then capped at ``max_delay_s`` -- so a checker
  accepts exactly :meth:`BackoffSchedule.delay_range_s`;
* only errors whose taxonomy row ``retries_with_backoff`` are retried, ``max_retries`` times;
* a worker's failed registration waits the same schedule (without jitter, capped), never the
  idle-poll wait.
"""

from __future__ import annotations

from dataclasses import dataclass

from spec.machines.retry import RETRY_CALL, RetryState, RetryTrigger
from spec.policies import DEFAULT_POLICIES, BackoffPolicy

#: The draw that leaves a delay unspread (``2u - 1 == 0``).
NO_SPREAD = 0.5


class BackoffSchedule:
    """Delays of one ``BackoffPolicy``; the jitter draw comes from the driver."""

    __slots__ = ("policy",)

    def __init__(self, policy: BackoffPolicy = DEFAULT_POLICIES.backoff) -> None:
        self.policy = policy

    def delay_s(self, retry: int, draw: float = NO_SPREAD) -> float:
        """The wait before retry `retry` (1-based) for the jitter draw `draw` in ``[0, 1)``."""
        policy = self.policy
        delay = policy.delay_s(retry)
        if policy.jitter > 0:
            delay *= 1.0 + policy.jitter * (2.0 * draw - 1.0)
        return min(max(0.0, delay), policy.max_delay_s)

    def delay_range_s(self, retry: int) -> tuple[float, float]:
        """The shortest and the longest wait before retry `retry` any draw can give."""
        return (self.delay_s(retry, 0.0), self.delay_s(retry, 1.0))

    def registration_delay_s(self, retry: int) -> float:
        """The wait before re-trying a failed registration `retry` (1-based); capped however long it lasts."""
        return self.policy.delay_s(retry)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What a failed attempt leads to: the trigger to fire and, for a retry, its wait and deadline."""

    trigger: RetryTrigger
    delay_s: float | None = None
    deadline: float | None = None


class RetryCore:
    """One call's retry decisions; a driver fires what :meth:`failed` returns, then waits until ``deadline``."""

    __slots__ = ("schedule", "retries_done", "state")

    def __init__(self, schedule: BackoffSchedule) -> None:
        self.schedule = schedule
        self.retries_done = 0
        self.state = RetryState(RETRY_CALL.initial)

    def started(self) -> RetryTrigger:
        return self._move(RetryTrigger.ATTEMPT)

    def succeeded(self) -> RetryTrigger:
        return self._move(RetryTrigger.SUCCEED)

    def failed(self, now: float, *, retryable: bool, draw: float = NO_SPREAD) -> RetryDecision:
        """An attempt failed at `now`; `retryable` is the taxonomy's ``retries_with_backoff`` of its error."""
        if not retryable:
            return RetryDecision(self._move(RetryTrigger.FAIL_PERMANENT))
        if not self.schedule.policy.should_retry(self.retries_done):
            return RetryDecision(self._move(RetryTrigger.GIVE_UP))
        self.retries_done += 1
        delay = self.schedule.delay_s(self.retries_done, draw)
        return RetryDecision(self._move(RetryTrigger.FAIL_RETRYABLE), delay, now + delay)

    def retried(self) -> RetryTrigger:
        return self._move(RetryTrigger.RETRY)

    def cancelled(self) -> RetryTrigger:
        return self._move(RetryTrigger.CANCEL)

    def _move(self, trigger: RetryTrigger) -> RetryTrigger:
        self.state = RetryState(RETRY_CALL.next_state(self.state, trigger))
        return trigger
