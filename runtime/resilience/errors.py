"""The resilience layer's exceptions: one small hierarchy whose messages say what to do next.

Errors raised by the protected call itself are re-raised unchanged (the retry machine's
``exhausted`` state: "the last error is raised"); these classes describe what the resilience
layer itself decided.
"""

from __future__ import annotations

from spec.taxonomy import ErrorClass


class ResilienceError(Exception):
    """Base class of every error raised by :mod:`runtime.resilience`."""


class ResilienceConfigError(ResilienceError, ValueError):
    """A resilience component was configured with a value it cannot work with."""


class CircuitOpenError(ResilienceError):
    """A call was refused without being made, because the service's breaker is open (seed 4.5).

    It classifies as a network error (the service is unavailable) but the retry handler never
    retries it: while open, "all requests fail immediately, no retries".
    """

    error_class = ErrorClass.NETWORK

    def __init__(self, service: str, retry_in_s: float, *, trial_in_flight: bool = False) -> None:
        self.service = service
        self.retry_in_s = max(0.0, retry_in_s)
        self.trial_in_flight = trial_in_flight
        super().__init__(service, self.retry_in_s)

    def __str__(self) -> str:
        if self.trial_in_flight:
            return (
                f"Circuit breaker is open for service {self.service!r}: a trial call is in flight; "
                f"retry in {self.retry_in_s:.1f} s, after the trial has shown whether the service is back"
            )
        return (
            f"Circuit breaker is open for service {self.service!r}: calls fail fast; "
            f"a trial call is allowed in {self.retry_in_s:.1f} s"
        )


class RateLimitedError(ResilienceError):
    """The service still refused with 429 after the waiting period and the policy's retry."""

    error_class = ErrorClass.RATE_LIMIT

    def __init__(
        self,
        service: str,
        *,
        limited_for_s: float,
        retry_after_s: float | None,
        escalated: bool,
        reason: str | None = None,
    ) -> None:
        self.service = service
        self.limited_for_s = limited_for_s
        self.retry_after_s = retry_after_s
        self.escalated = escalated
        self.reason = reason
        super().__init__(service, limited_for_s)

    def __str__(self) -> str:
        hint = f"; the server asks to wait {self.retry_after_s:.0f} s" if self.retry_after_s is not None else ""
        head = f"service {self.service!r} is rate-limiting calls (limited for {self.limited_for_s:.0f} s{hint})"
        if self.reason:
            head += f": {self.reason}"
        if self.escalated:
            return head + "; the limit persisted and was escalated"
        return head + "; try again later or lower the request rate"


class AuthenticationFailedError(ResilienceError):
    """Credentials were rejected and re-authentication did not produce working ones."""

    error_class = ErrorClass.AUTHENTICATION

    def __init__(self, service: str, reason: str) -> None:
        self.service = service
        self.reason = reason
        super().__init__(service, reason)

    def __str__(self) -> str:
        return (
            f"authentication with service {self.service!r} failed: {self.reason}; "
            "provide valid credentials through the re-authentication hook"
        )


class EscalationDeliveryError(ResilienceError):
    """An escalation hook (for instance a webhook) could not deliver its notification."""

    def __init__(self, target: str, reason: str) -> None:
        self.target = target
        self.reason = reason
        super().__init__(target, reason)

    def __str__(self) -> str:
        return f"could not deliver escalation to {self.target}: {self.reason}"
