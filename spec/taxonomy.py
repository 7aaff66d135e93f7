"""The error taxonomy of seed 4.5 ("Error Classification"), as data.

The runtime's classifier returns one of these classes; the flowchart renderer draws the
classification flowchart from this table; the retry machine consults ``retryable``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorClass(StrEnum):
    NETWORK = "network"
    AUTHENTICATION = "authentication"
    RATE_LIMIT = "rate_limit"
    VALIDATION = "validation"
    SYSTEM = "system"
    UNKNOWN = "unknown"


class RetryStrategy(StrEnum):
    EXPONENTIAL_BACKOFF = "exponential_backoff"  # BackoffPolicy
    RETRY_AFTER = "retry_after"  # RateLimitPolicy
    REAUTHENTICATE = "reauthenticate"  # never blindly; after new credentials only
    NONE = "none"


@dataclass(frozen=True)
class ErrorCategory:
    """One row of the taxonomy; ``max_retries`` of ``None`` means "from the named policy"."""

    error_class: ErrorClass
    title: str
    symptoms: tuple[str, ...]
    retryable: bool
    strategy: RetryStrategy
    policy: str | None
    resolution: str
    escalation: str
    #: Flowchart steps the seed draws for this handler, in order.
    handling: tuple[str, ...]
    #: Escalation level (``AlertPolicy.escalation_levels``) once handling has failed; None = monitor only.
    escalation_level: int | None = None
    #: Whether an error of this class is evidence that the *service* is unhealthy, so it counts
    #: towards opening its circuit breaker. Any other outcome is an answer of a healthy service
    #: (a validation error, a rate limit, rejected credentials) or a fault of the caller's own
    #: machine (a system error), and counts as a success of the service.
    counts_against_breaker: bool = False

    @property
    def retries_with_backoff(self) -> bool:
        """Whether the retry handler retries this class on ``BackoffPolicy``'s schedule."""
        return self.retryable and self.strategy is RetryStrategy.EXPONENTIAL_BACKOFF


TAXONOMY: tuple[ErrorCategory, ...] = (
    ErrorCategory(
        ErrorClass.NETWORK,
        "Network error",
        ("Connection timeouts", "Refused connections", "DNS failures", "HTTP 5xx from a dependency"),
        retryable=True,
        strategy=RetryStrategy.EXPONENTIAL_BACKOFF,
        policy="backoff",
        resolution="Retry with exponential backoff; the circuit breaker stops retries against a dead service.",
        escalation="After the last retry fails, alert administrators (level 2).",
        handling=("Apply exponential backoff", "Wait backoff delay", "Retry operation"),
        escalation_level=2,
        counts_against_breaker=True,
    ),
    ErrorCategory(
        ErrorClass.AUTHENTICATION,
        "Authentication error",
        ("HTTP 401 or 403 responses", "Invalid or expired credentials"),
        retryable=False,
        strategy=RetryStrategy.REAUTHENTICATE,
        policy=None,
        resolution="Clear cached credentials and request re-authentication; retry once with new credentials.",
        escalation="Immediate alert if authentication fails repeatedly (level 2).",
        handling=("Clear credentials", "Request re-authentication", "Retry with new credentials"),
        escalation_level=2,
        counts_against_breaker=False,
    ),
    ErrorCategory(
        ErrorClass.RATE_LIMIT,
        "Rate limit error",
        ("HTTP 429 responses", "Rate limit exceeded"),
        retryable=True,
        strategy=RetryStrategy.RETRY_AFTER,
        policy="rate_limit",
        resolution="Honour Retry-After (seconds or HTTP date), else wait the default delay; retry once.",
        escalation="Alert if rate limits persist for more than the escalation period (level 2).",
        handling=("Extract Retry-After header", "Wait Retry-After or default delay", "Retry request"),
        escalation_level=2,
        counts_against_breaker=False,
    ),
    ErrorCategory(
        ErrorClass.VALIDATION,
        "Validation error",
        ("Invalid input data", "Schema validation failures", "HTTP 4xx other than 401/403/429"),
        retryable=False,
        strategy=RetryStrategy.NONE,
        policy=None,
        resolution="Return detailed error messages to the client; the client must fix its input.",
        escalation="Monitor for high validation error rates.",
        handling=("Log validation error", "Return error to client", "Provide validation details"),
        escalation_level=None,
        counts_against_breaker=False,
    ),
    ErrorCategory(
        ErrorClass.SYSTEM,
        "System error",
        ("Out of memory", "Disk full (ENOSPC)", "CPU exhaustion"),
        retryable=False,
        strategy=RetryStrategy.NONE,
        policy=None,
        resolution="Clean up resources immediately; restart the service if it is critical.",
        escalation="Critical alert, immediate administrator notification (level 4).",
        # Flowchart G of the seed, drawn with SystemErrorPolicy's numbers (spec.render.flowchart).
        handling=("Clean up resources", "Initiate emergency shutdown", "Attempt recovery", "Graceful degradation",
                  "Log recovery failure"),
        escalation_level=4,
        counts_against_breaker=False,
    ),
    ErrorCategory(
        ErrorClass.UNKNOWN,
        "Unknown error",
        ("Anything not matched above",),
        retryable=True,
        strategy=RetryStrategy.EXPONENTIAL_BACKOFF,
        policy="backoff",
        resolution="Log it and apply the default retry logic.",
        escalation="Escalate for investigation when the retries fail (level 3).",
        handling=("Log unknown error", "Apply default retry logic"),
        escalation_level=3,
        counts_against_breaker=True,
    ),
)


def category(error_class: ErrorClass | str) -> ErrorCategory:
    """The taxonomy row for `error_class`."""
    wanted = ErrorClass(error_class)
    for row in TAXONOMY:
        if row.error_class is wanted:
            return row
    raise KeyError(wanted)  # pragma: no cover - TAXONOMY covers every ErrorClass


#: Error codes a failed task reports; the pipeline's failures use the seed's event names.
class FailureCode(StrEnum):
    BUILD_FAILED = "BUILD_FAILED"
    TEST_FAILED = "TEST_FAILED"
    AI_ERROR = "AI_ERROR"
    GIT_ERROR = "GIT_ERROR"
    TIMEOUT = "TIMEOUT"
    RESOURCE_EXHAUSTED = "RESOURCE_EXHAUSTED"
    TASK_ERROR = "TASK_ERROR"
