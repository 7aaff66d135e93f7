"""Rate-limit handling (seed 4.5, "Rate Limit Errors" and the flowchart's E branch).

The seed is inconsistent: the table says "Max retries: 1 attempt after waiting period" while
the flowchart loops back to "Extract Retry-After" until the limit "persisted". We take both:
each call gets ``RateLimitPolicy.max_retries`` (1) retry after waiting; a call whose retry is
also refused fails with a rate-limit error, and once a service has stayed rate-limited for
more than ``escalate_after_s`` the failure escalates.
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, reply, step
from spec.participants import CLIENT, MONITOR, SERVICE

CLI, SVC, MON = CLIENT, SERVICE, MONITOR


class RateLimitState(StrEnum):
    """The rate_limit machine's states, named once for its table and every consumer."""

    READY = "ready"
    REQUESTING = "requesting"
    WAITING = "waiting"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ERRORED = "errored"
    ESCALATED = "escalated"


class RateLimitTrigger(StrEnum):
    """The rate_limit machine's triggers, named once for its table and every consumer."""

    REQUEST = "request"
    SUCCEED = "succeed"
    LIMITED_WITH_RETRY_AFTER = "limited_with_retry_after"
    LIMITED_WITHOUT_RETRY_AFTER = "limited_without_retry_after"
    RETRY_AFTER_TOO_LONG = "retry_after_too_long"
    OTHER_ERROR = "other_error"
    RETRY = "retry"
    RETRY_SUCCEEDED = "retry_succeeded"
    STILL_LIMITED = "still_limited"
    LIMIT_PERSISTED = "limit_persisted"


S, T = RateLimitState, RateLimitTrigger

RATE_LIMIT = MachineSpec(
    name="rate_limit",
    title="Rate-limit handling",
    seed_section="4.5",
    description="On 429, wait Retry-After (seconds or HTTP date) or the default, retry once, escalate if the "
    "limit persists.",
    initial=S.READY,
    states=(
        StateSpec(S.READY, "No request sent yet.", StateRole.RESTING),
        StateSpec(S.REQUESTING, "First request in flight."),
        StateSpec(S.WAITING, "429 received; waiting Retry-After or the default delay."),
        StateSpec(S.RETRYING, "The retry is in flight."),
        StateSpec(S.SUCCEEDED, "A response arrived.", StateRole.TERMINAL),
        StateSpec(S.FAILED, "Still rate-limited after the retry.", StateRole.TERMINAL),
        StateSpec(S.ERRORED, "A different error; the caller's other handlers take it.", StateRole.TERMINAL),
        StateSpec(S.ESCALATED, "Rate-limited for longer than escalate_after_s; alert raised.", StateRole.TERMINAL),
    ),
    transitions=(
        transition(T.REQUEST, S.READY, S.REQUESTING, "Send the request.", call(CLI, SVC, "request()")),
        transition(T.SUCCEED, S.REQUESTING, S.SUCCEEDED, "Not limited.", reply(SVC, CLI, "response")),
        transition(T.LIMITED_WITH_RETRY_AFTER, S.REQUESTING, S.WAITING, "429 with Retry-After.",
                   reply(SVC, CLI, "429 Too Many Requests (Retry-After)"), step(CLI, "extractRetryAfter()"),
                   step(CLI, "wait(retryAfter)")),
        transition(T.LIMITED_WITHOUT_RETRY_AFTER, S.REQUESTING, S.WAITING, "429 without Retry-After.",
                   reply(SVC, CLI, "429 Too Many Requests"), step(CLI, "wait(defaultDelay)")),
        transition(T.RETRY_AFTER_TOO_LONG, S.REQUESTING, S.FAILED,
                   "Retry-After exceeds RateLimitPolicy.max_retry_after_s: fail now rather than hang.",
                   reply(SVC, CLI, "429 Too Many Requests (Retry-After too long)"), step(CLI, "raiseRateLimitError()")),
        transition(T.OTHER_ERROR, (S.REQUESTING, S.RETRYING), S.ERRORED, "Not a 429: not this handler's business.",
                   reply(SVC, CLI, "error")),
        transition(T.RETRY, S.WAITING, S.RETRYING, "The wait elapsed (never earlier).",
                   call(CLI, SVC, "retry request()")),
        transition(T.RETRY_SUCCEEDED, S.RETRYING, S.SUCCEEDED, "The retry got through.",
                   reply(SVC, CLI, "response")),
        transition(T.STILL_LIMITED, S.RETRYING, S.FAILED, "Refused again; not limited for long yet.",
                   reply(SVC, CLI, "429 Too Many Requests"), step(CLI, "raiseRateLimitError()")),
        transition(T.LIMIT_PERSISTED, S.RETRYING, S.ESCALATED, "Refused again after escalate_after_s of limits.",
                   reply(SVC, CLI, "429 Too Many Requests"), call(CLI, MON, "escalate(rateLimitPersisted)")),
    ),
)
