"""How long a rate-limited call waits and when a persistent limit escalates (seed 4.5), sans I/O.

One service's limit, shared by its calls: ``limited_since`` starts at the first 429 and ends at
the first answer that is not a 429. The wait is the server's Retry-After when the policy honours
it (never less), else ``default_delay_s``; a Retry-After beyond ``max_retry_after_s`` fails the
call at once; a retry refused while the service has been limiting for more than
``escalate_after_s`` escalates (``limit_persisted``) instead of failing quietly.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime

from spec.machines.rate_limit import RateLimitTrigger
from spec.policies import DEFAULT_POLICIES, RateLimitPolicy


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait for a Retry-After header value (RFC 9110: delay-seconds or HTTP-date).

    The one reading for every caller (the resilience layer, the worker's and the client's
    HTTP clients): a date in the past means "now" (0 s); anything else unparseable, negative
    numbers included, gives ``None`` (the caller uses its default wait).
    """
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():  # RFC 9110 DIGIT is ASCII: "¹" or "٣" is no delay
        return float(int(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True, slots=True)
class LimitDecision:
    """A 429 arrived: the trigger to fire, the Retry-After it honours, the wait and the retry's deadline."""

    trigger: RateLimitTrigger
    retry_after_s: float | None
    wait_s: float
    deadline: float


class RateLimitCore:
    """The rate-limit rules of one service; drivers report 429s and other answers with their ``now``."""

    __slots__ = ("policy", "limited_since")

    def __init__(self, policy: RateLimitPolicy = DEFAULT_POLICIES.rate_limit) -> None:
        self.policy = policy
        self.limited_since: float | None = None

    def limited_for_s(self, now: float) -> float:
        return 0.0 if self.limited_since is None else max(0.0, now - self.limited_since)

    def limited(self, now: float, retry_after_s: float | None) -> LimitDecision:
        """A first 429 at `now`, with the server's Retry-After (seconds) if it sent one."""
        if self.limited_since is None:
            self.limited_since = now
        asked = retry_after_s if self.policy.honour_retry_after else None
        if asked is not None and asked > self.policy.max_retry_after_s:
            return LimitDecision(RateLimitTrigger.RETRY_AFTER_TOO_LONG, asked, 0.0, now)
        wait = self.policy.wait_s(asked)
        trigger = (RateLimitTrigger.LIMITED_WITH_RETRY_AFTER if asked is not None
                   else RateLimitTrigger.LIMITED_WITHOUT_RETRY_AFTER)
        return LimitDecision(trigger, asked, wait, now + wait)

    def limited_again(self, now: float) -> RateLimitTrigger:
        """The retry was refused with another 429 at `now`."""
        if self.limited_since is None:
            self.limited_since = now
        if self.limited_for_s(now) > self.policy.escalate_after_s:
            return RateLimitTrigger.LIMIT_PERSISTED
        return RateLimitTrigger.STILL_LIMITED

    def answered(self) -> None:
        """An answer that is not a 429: the service stopped limiting."""
        self.limited_since = None

    def wait_s(self, retry_after_s: float | None) -> float:
        """The wait a 429 with `retry_after_s` demands (for checkers replaying a trace)."""
        return self.policy.wait_s(retry_after_s)
