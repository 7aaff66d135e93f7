"""Resilience for calls to external services (seed 4.5): classify, retry, rate limits, breakers.

Usable in plain asyncio code, independent of the orchestrator. Every component executes its
machine from `spec.machines` and takes its numbers from `spec.policies`; time comes from an
injectable :class:`Clock` so tests run the seed's exact schedules without sleeping.
"""

from __future__ import annotations

from runtime.resilience.auth import (
    Credentials,
    CredentialStore,
    InMemoryCredentialStore,
    ReauthenticatingCaller,
    ReauthenticationHook,
)
from runtime.resilience.circuit_breaker import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    BreakerRegistry,
    CircuitBreaker,
    StateChange,
)
from runtime.resilience.classify import classify, classify_status, escalation_level, is_retryable
from runtime.resilience.clock import Clock, FakeClock, MonotonicClock, sleep_until
from runtime.resilience.errors import (
    AuthenticationFailedError,
    CircuitOpenError,
    EscalationDeliveryError,
    RateLimitedError,
    ResilienceConfigError,
    ResilienceError,
)
from runtime.resilience.escalation import (
    CallbackHook,
    CommandHook,
    Escalation,
    EscalationHook,
    EscalationOutcome,
    Escalator,
    LogHook,
    WebhookHook,
)
from runtime.resilience.rate_limit import RateLimitHandler, retry_after_s
from runtime.resilience.retry import AttemptEvent, RetryHandler, retries_with_backoff
from runtime.resilience.service import CallObservation, ExternalService
from runtime.resilience.tracing import TraceSink
from spec.decisions.rate_limit import parse_retry_after

__all__ = [
    "CLOSED",
    "HALF_OPEN",
    "OPEN",
    "AttemptEvent",
    "AuthenticationFailedError",
    "BreakerRegistry",
    "CallObservation",
    "CallbackHook",
    "CircuitBreaker",
    "CircuitOpenError",
    "CommandHook",
    "Clock",
    "CredentialStore",
    "Credentials",
    "Escalation",
    "EscalationDeliveryError",
    "EscalationHook",
    "EscalationOutcome",
    "Escalator",
    "ExternalService",
    "FakeClock",
    "InMemoryCredentialStore",
    "LogHook",
    "MonotonicClock",
    "RateLimitHandler",
    "RateLimitedError",
    "ReauthenticatingCaller",
    "ReauthenticationHook",
    "ResilienceConfigError",
    "ResilienceError",
    "RetryHandler",
    "StateChange",
    "TraceSink",
    "WebhookHook",
    "classify",
    "classify_status",
    "escalation_level",
    "is_retryable",
    "parse_retry_after",
    "retries_with_backoff",
    "retry_after_s",
    "sleep_until",
]
