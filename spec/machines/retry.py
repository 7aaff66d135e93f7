"""One call under the retry handler (seed 4.5, network errors and the "Retry Handler").

The decision "retry or give up" is made by ``BackoffPolicy.should_retry`` and the taxonomy's
``retryable``; the machine records which way it went so traces can be checked against the
policy's schedule. Cancellation is never retried.
"""

from __future__ import annotations

from enum import StrEnum

from spec.machine import MachineSpec, StateRole, StateSpec, transition
from spec.messages import call, reply, step
from spec.participants import RETRY_HANDLER, SERVICE

RETRY, SVC = RETRY_HANDLER, SERVICE


class RetryState(StrEnum):
    """The retry machine's states, named once for its table and every consumer."""

    IDLE = "idle"
    ATTEMPTING = "attempting"
    BACKING_OFF = "backing_off"
    SUCCEEDED = "succeeded"
    EXHAUSTED = "exhausted"
    NOT_RETRIED = "not_retried"
    CANCELLED = "cancelled"


class RetryTrigger(StrEnum):
    """The retry machine's triggers, named once for its table and every consumer."""

    ATTEMPT = "attempt"
    SUCCEED = "succeed"
    FAIL_RETRYABLE = "fail_retryable"
    RETRY = "retry"
    GIVE_UP = "give_up"
    FAIL_PERMANENT = "fail_permanent"
    CANCEL = "cancel"


S, T = RetryState, RetryTrigger

RETRY_CALL = MachineSpec(
    name="retry",
    title="Retry with exponential backoff",
    seed_section="4.5",
    description="Attempt, and on a retryable error wait the policy's next delay and attempt again, "
    "until success, a non-retryable error or the retry limit.",
    initial=S.IDLE,
    states=(
        StateSpec(S.IDLE, "No attempt made yet.", StateRole.RESTING),
        StateSpec(S.ATTEMPTING, "A call is in flight."),
        StateSpec(S.BACKING_OFF, "Waiting BackoffPolicy.delay_s(n) before retry n."),
        StateSpec(S.SUCCEEDED, "The call returned a result.", StateRole.TERMINAL),
        StateSpec(S.EXHAUSTED, "Every retry failed; the last error is raised.", StateRole.TERMINAL),
        StateSpec(S.NOT_RETRIED, "The error's class is not retryable; raised at once.", StateRole.TERMINAL),
        StateSpec(S.CANCELLED, "The caller cancelled; never retried.", StateRole.TERMINAL),
    ),
    transitions=(
        transition(T.ATTEMPT, S.IDLE, S.ATTEMPTING, "First attempt.", call(RETRY, SVC, "call()")),
        transition(T.SUCCEED, S.ATTEMPTING, S.SUCCEEDED, "The call worked.", reply(SVC, RETRY, "success")),
        transition(T.FAIL_RETRYABLE, S.ATTEMPTING, S.BACKING_OFF, "Retryable error and retries left.",
                   reply(SVC, RETRY, "error"), step(RETRY, "checkRetryCount()"), step(RETRY, "applyBackoff()"),
                   step(RETRY, "wait(backoffDelay)")),
        transition(T.RETRY, S.BACKING_OFF, S.ATTEMPTING, "The delay elapsed.", call(RETRY, SVC, "retry call()")),
        transition(T.GIVE_UP, S.ATTEMPTING, S.EXHAUSTED, "Retryable error but no retries left.",
                   reply(SVC, RETRY, "error"), step(RETRY, "checkRetryCount()")),
        transition(T.FAIL_PERMANENT, S.ATTEMPTING, S.NOT_RETRIED, "Validation, authentication or system error.",
                   reply(SVC, RETRY, "error"), step(RETRY, "classifyError()")),
        transition(T.CANCEL, (S.ATTEMPTING, S.BACKING_OFF), S.CANCELLED, "The caller was cancelled.",
                   step(RETRY, "cancel()")),
    ),
)
