"""Rate-limit handling (seed 4.5, "Rate Limit Errors" and the flowchart's E branch).

The seed is inconsistent: the table says "Max retries: 1 attempt after waiting period" while
the flowchart loops back to "Extract Retry-After" until the limit "persisted". We take both:
each call gets ``RateLimitPolicy.max_retries`` (1) retry after waiting; a call whose retry is
also refused fails with a rate-limit error, and once a service has stayed rate-limited for
more than ``escalate_after_s`` the failure escalates.
"""

from __future__ import annotations

from spec.machine import MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, reply, step
from spec.participants import CLIENT, MONITOR, SERVICE

CLI, SVC, MON = CLIENT, SERVICE, MONITOR

RATE_LIMIT = MachineSpec(
    name="rate_limit",
    title="Rate-limit handling",
    seed_section="4.5",
    description="On 429, wait Retry-After (seconds or HTTP date) or the default, retry once, escalate if the "
    "limit persists.",
    initial="ready",
    states=(
        StateSpec("ready", "No request sent yet.", StateRole.RESTING),
        StateSpec("requesting", "First request in flight."),
        StateSpec("waiting", "429 received; waiting Retry-After or the default delay."),
        StateSpec("retrying", "The retry is in flight."),
        StateSpec("succeeded", "A response arrived.", StateRole.TERMINAL),
        StateSpec("failed", "Still rate-limited after the retry.", StateRole.TERMINAL),
        StateSpec("errored", "A different error; the caller's other handlers take it.", StateRole.TERMINAL),
        StateSpec("escalated", "Rate-limited for longer than escalate_after_s; alert raised.", StateRole.TERMINAL),
    ),
    transitions=(
        transition("request", "ready", "requesting", "Send the request.", call(CLI, SVC, "request()")),
        transition("succeed", "requesting", "succeeded", "Not limited.", reply(SVC, CLI, "response")),
        transition("limited_with_retry_after", "requesting", "waiting", "429 with Retry-After.",
                   reply(SVC, CLI, "429 Too Many Requests (Retry-After)"), step(CLI, "extractRetryAfter()"),
                   step(CLI, "wait(retryAfter)")),
        transition("limited_without_retry_after", "requesting", "waiting", "429 without Retry-After.",
                   reply(SVC, CLI, "429 Too Many Requests"), step(CLI, "wait(defaultDelay)")),
        transition("retry_after_too_long", "requesting", "failed",
                   "Retry-After exceeds RateLimitPolicy.max_retry_after_s: fail now rather than hang.",
                   reply(SVC, CLI, "429 Too Many Requests (Retry-After too long)"), step(CLI, "raiseRateLimitError()")),
        transition("other_error", ("requesting", "retrying"), "errored", "Not a 429: not this handler's business.",
                   reply(SVC, CLI, "error")),
        transition("retry", "waiting", "retrying", "The wait elapsed (never earlier).",
                   call(CLI, SVC, "retry request()")),
        transition("retry_succeeded", "retrying", "succeeded", "The retry got through.",
                   reply(SVC, CLI, "response")),
        transition("still_limited", "retrying", "failed", "Refused again; not limited for long yet.",
                   reply(SVC, CLI, "429 Too Many Requests"), step(CLI, "raiseRateLimitError()")),
        transition("limit_persisted", "retrying", "escalated", "Refused again after escalate_after_s of limits.",
                   reply(SVC, CLI, "429 Too Many Requests"), call(CLI, MON, "escalate(rateLimitPersisted)")),
    ),
)
