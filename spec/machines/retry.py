"""One call under the retry handler (seed 4.5, network errors and the "Retry Handler").

The decision "retry or give up" is made by ``BackoffPolicy.should_retry`` and the taxonomy's
``retryable``; the machine records which way it went so traces can be checked against the
policy's schedule. Cancellation is never retried.
"""

from __future__ import annotations

from spec.machine import MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, reply, step
from spec.participants import RETRY_HANDLER, SERVICE

RETRY, SVC = RETRY_HANDLER, SERVICE

RETRY_CALL = MachineSpec(
    name="retry",
    title="Retry with exponential backoff",
    seed_section="4.5",
    description="Attempt, and on a retryable error wait the policy's next delay and attempt again, "
    "until success, a non-retryable error or the retry limit.",
    initial="idle",
    states=(
        StateSpec("idle", "No attempt made yet.", StateRole.RESTING),
        StateSpec("attempting", "A call is in flight."),
        StateSpec("backing_off", "Waiting BackoffPolicy.delay_s(n) before retry n."),
        StateSpec("succeeded", "The call returned a result.", StateRole.TERMINAL),
        StateSpec("exhausted", "Every retry failed; the last error is raised.", StateRole.TERMINAL),
        StateSpec("not_retried", "The error's class is not retryable; raised at once.", StateRole.TERMINAL),
        StateSpec("cancelled", "The caller cancelled; never retried.", StateRole.TERMINAL),
    ),
    transitions=(
        transition("attempt", "idle", "attempting", "First attempt.", call(RETRY, SVC, "call()")),
        transition("succeed", "attempting", "succeeded", "The call worked.", reply(SVC, RETRY, "success")),
        transition("fail_retryable", "attempting", "backing_off", "Retryable error and retries left.",
                   reply(SVC, RETRY, "error"), step(RETRY, "checkRetryCount()"), step(RETRY, "applyBackoff()"),
                   step(RETRY, "wait(backoffDelay)")),
        transition("retry", "backing_off", "attempting", "The delay elapsed.", call(RETRY, SVC, "retry call()")),
        transition("give_up", "attempting", "exhausted", "Retryable error but no retries left.",
                   reply(SVC, RETRY, "error"), step(RETRY, "checkRetryCount()")),
        transition("fail_permanent", "attempting", "not_retried", "Validation, authentication or system error.",
                   reply(SVC, RETRY, "error"), step(RETRY, "classifyError()")),
        transition("cancel", ("attempting", "backing_off"), "cancelled", "The caller was cancelled.",
                   step(RETRY, "cancel()")),
    ),
)
