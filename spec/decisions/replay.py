"""Replaying a recorded trace through the decision cores' rules: one checker for every consumer.

`spec.conformance` (any runtime's trace) and `sim.checks` (the simulator's) both feed a
component's recorded triggers and times to these objects, which hold the same rules the cores
apply live -- the breaker's :class:`~spec.decisions.circuit_breaker.FailureWindow`, the
:class:`~spec.decisions.backoff.BackoffSchedule`'s delay range, the rate limit's wait -- and say
where a trace departs from them. ``tolerance_s`` absorbs a real runtime's scheduling latency
(the simulator uses 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from spec.decisions.backoff import BackoffSchedule
from spec.decisions.circuit_breaker import FailureWindow
from spec.decisions.rate_limit import RateLimitCore
from spec.machines.circuit_breaker import BreakerTrigger
from spec.machines.rate_limit import RateLimitTrigger
from spec.machines.retry import RetryTrigger
from spec.policies import BackoffPolicy, CircuitBreakerPolicy, RateLimitPolicy

#: Float slack on top of the tolerance: recorded times are sums of floats.
FLOAT_SLACK_S = 1e-9


@dataclass(frozen=True)
class Violation:
    """A recorded event the rules forbid: what they expected, what the trace shows, and why."""

    expected: str
    actual: str
    reason: str

    def __str__(self) -> str:
        return f"{self.reason}: expected {self.expected}, got {self.actual}"


class RetryReplay:
    """One retried call: retries on ``BackoffPolicy``'s schedule (jitter range, cap) and its limit."""

    def __init__(self, policy: BackoffPolicy, tolerance_s: float = 0.0) -> None:
        self.schedule = BackoffSchedule(policy)
        self.slack_s = tolerance_s + FLOAT_SLACK_S
        self.retries_done = 0
        self.backoff_started: float | None = None
        #: Every recorded wait, for reports.
        self.waits: list[float] = []

    def observe(self, trigger: str, time: float) -> Violation | None:
        policy = self.schedule.policy
        if trigger == RetryTrigger.FAIL_RETRYABLE:
            if not policy.should_retry(self.retries_done):
                return Violation(f"give_up after {policy.max_retries} retries", "another retry", "retried too often")
            self.backoff_started = time
        elif trigger == RetryTrigger.RETRY and self.backoff_started is not None:
            self.retries_done += 1
            low, high = self.schedule.delay_range_s(self.retries_done)
            waited = time - self.backoff_started
            self.waits.append(waited)
            if not low - self.slack_s <= waited <= high + self.slack_s:
                wanted = f"delay {low:g} s" if low == high else f"delay in [{low:g}, {high:g}] s"
                return Violation(wanted, f"{waited:g} s", f"retry {self.retries_done} off schedule")
        elif trigger == RetryTrigger.GIVE_UP and policy.should_retry(self.retries_done):
            return Violation(f"{policy.max_retries} retries", f"{self.retries_done}", "gave up with retries left")
        return None


class BreakerReplay:
    """One breaker: trips on the threshold-th failure in the window, open for ``open_duration_s``."""

    def __init__(self, policy: CircuitBreakerPolicy, tolerance_s: float = 0.0) -> None:
        self.policy = policy
        self.slack_s = tolerance_s + FLOAT_SLACK_S
        self.window = FailureWindow(policy.window_s)
        self.opened_at: float | None = None
        self.in_trial = False
        self.trips = 0
        self.open_periods: list[float] = []

    def observe(self, trigger: str, time: float) -> Violation | None:
        policy = self.policy
        if trigger in (BreakerTrigger.RECORD_FAILURE, BreakerTrigger.TRIP):
            count = self.window.add(time)
            if trigger == BreakerTrigger.TRIP and count != policy.failure_threshold:
                return Violation(f"trip on failure {policy.failure_threshold} within {policy.window_s:g} s",
                                 f"failure {count}", "breaker opened off threshold")
            if trigger == BreakerTrigger.RECORD_FAILURE and count >= policy.failure_threshold:
                return Violation("trip", "record_failure", f"failure {count} within {policy.window_s:g} s did not open")
        if trigger in (BreakerTrigger.TRIAL_SUCCEEDED, BreakerTrigger.TRIAL_FAILED, BreakerTrigger.TRIAL_ABANDONED):
            self.in_trial = False
        if trigger in (BreakerTrigger.TRIP, BreakerTrigger.TRIAL_FAILED):
            self.trips += trigger == BreakerTrigger.TRIP
            self.opened_at = time
            self.window.clear()
        elif trigger == BreakerTrigger.TRIAL_SUCCEEDED:
            self.window.clear()
        elif trigger in (BreakerTrigger.PROBE, BreakerTrigger.REJECT) and self.opened_at is not None:
            open_for = time - self.opened_at
            if trigger == BreakerTrigger.PROBE:
                if self.in_trial:
                    return Violation("one probe per trial", "a second probe", "a second trial while one is in flight")
                self.in_trial = True
                self.open_periods.append(open_for)
                if open_for + self.slack_s < policy.open_duration_s:
                    return Violation(f">= {policy.open_duration_s:g} s open", f"{open_for:g} s",
                                     "trial allowed too early")
            elif open_for > policy.open_duration_s + self.slack_s:
                return Violation(f"a trial after {policy.open_duration_s:g} s open", f"rejected after {open_for:g} s",
                                 "call rejected after the open duration")
        return None


class RateLimitReplay:
    """One rate-limited call: the retry waits the honoured Retry-After (or the default), never less.

    Only the lower bound is a rule: a runtime may wake late, and a late retry breaks nothing.
    """

    def __init__(self, policy: RateLimitPolicy, tolerance_s: float = 0.0) -> None:
        self.core = RateLimitCore(policy)
        self.slack_s = tolerance_s + FLOAT_SLACK_S
        self.limited_at: float | None = None
        self.wait_s: float | None = None
        self.waits: list[float] = []

    def observe(self, trigger: str, time: float, retry_after_s: object = None) -> Violation | None:
        if trigger == RateLimitTrigger.LIMITED_WITH_RETRY_AFTER:
            if not isinstance(retry_after_s, int | float) or isinstance(retry_after_s, bool):
                return Violation("the honoured Retry-After in the event's data", repr(retry_after_s),
                                 "a Retry-After wait without its Retry-After")
            self.limited_at, self.wait_s = time, self.core.wait_s(float(retry_after_s))
        elif trigger == RateLimitTrigger.LIMITED_WITHOUT_RETRY_AFTER:
            self.limited_at, self.wait_s = time, self.core.wait_s(None)
        elif trigger == RateLimitTrigger.RETRY and self.limited_at is not None and self.wait_s is not None:
            waited = time - self.limited_at
            self.waits.append(waited)
            if waited + self.slack_s < self.wait_s:
                return Violation(f">= {self.wait_s:g} s", f"{waited:g} s", "retried before Retry-After")
        return None
