"""The runtime's error classifier: `spec.classify` plus httpx's own exception types.

The rules live in `spec.classify` (one classifier for worker failures, resilience and the
simulator); this module only teaches it the transport library the runtime uses: httpx refuses a
malformed URL or scheme (the caller's input, a validation error) and reports every other
transport failure as ``httpx.TransportError`` (a network error, retried with backoff).
"""

from __future__ import annotations

import httpx

from spec.classify import (
    NETWORK_ERRNOS,
    RESOURCE_ERRNOS,
    ErrorClassifier,
    classify_status,
    status_code_of,
)
from spec.taxonomy import ErrorClass, category

classify = ErrorClassifier(
    extra_rules=(
        ((httpx.UnsupportedProtocol, httpx.InvalidURL), ErrorClass.VALIDATION),
        (httpx.TransportError, ErrorClass.NETWORK),
    )
)


def is_retryable(error_class: ErrorClass) -> bool:
    """The taxonomy's ``retryable`` flag for `error_class`."""
    return category(error_class).retryable


def escalation_level(error_class: ErrorClass) -> int | None:
    """The escalation level the taxonomy gives `error_class`, or ``None`` (monitor only)."""
    return category(error_class).escalation_level


def counts_against_breaker(exc: BaseException) -> bool:
    """Whether `exc` is evidence that the called service is unhealthy (the taxonomy's property)."""
    return category(classify(exc)).counts_against_breaker


__all__ = [
    "NETWORK_ERRNOS",
    "RESOURCE_ERRNOS",
    "classify",
    "classify_status",
    "counts_against_breaker",
    "escalation_level",
    "is_retryable",
    "status_code_of",
]
