"""Error classification (seed 4.5, "Classify Error"): every failure maps to one taxonomy class.

The class decides everything downstream: whether the retry handler retries (the taxonomy's
``retryable``), which strategy applies (backoff, Retry-After, re-authentication) and the
escalation level. HTTP status codes follow the taxonomy's symptoms: 401/403 authentication,
429 rate limit, other 4xx validation, 5xx a retryable service (network) error.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

import httpx
from pydantic import ValidationError

from spec.taxonomy import ErrorClass, category

#: OS error numbers meaning the machine ran out of something: no retry, clean up (seed "System Errors").
RESOURCE_ERRNOS = frozenset(
    code
    for code in (
        getattr(errno, name, None)
        for name in ("ENOSPC", "ENOMEM", "EDQUOT", "EMFILE", "ENFILE", "ENOBUFS")
    )
    if code is not None
)

#: OS error numbers of a failed network path: retry with backoff (seed "Network Errors").
NETWORK_ERRNOS = frozenset(
    code
    for code in (
        getattr(errno, name, None)
        for name in (
            "ECONNREFUSED",
            "ECONNRESET",
            "ECONNABORTED",
            "ETIMEDOUT",
            "EHOSTUNREACH",
            "ENETUNREACH",
            "ENETDOWN",
            "EHOSTDOWN",
            "EPIPE",
        )
    )
    if code is not None
)

_AUTH_STATUSES = frozenset({401, 403})
_RATE_LIMIT_STATUS = 429


def classify_status(status_code: int) -> ErrorClass:
    """The class of an HTTP error status; a non-error status is refused with a clear message."""
    if status_code in _AUTH_STATUSES:
        return ErrorClass.AUTHENTICATION
    if status_code == _RATE_LIMIT_STATUS:
        return ErrorClass.RATE_LIMIT
    if 400 <= status_code < 500:
        return ErrorClass.VALIDATION
    if 500 <= status_code < 600:
        return ErrorClass.NETWORK
    raise ValueError(f"HTTP status {status_code} is not an error status (expected 400-599); nothing to classify")


def status_code_of(obj: object) -> int | None:
    """The HTTP status carried by a response, an ``HTTPStatusError`` or any object with one."""
    if isinstance(obj, httpx.Response):
        return obj.status_code
    if isinstance(obj, httpx.HTTPStatusError):
        return obj.response.status_code
    code = getattr(obj, "status_code", None)
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    response = getattr(obj, "response", None)
    if response is not None and response is not obj:
        inner = getattr(response, "status_code", None)
        if isinstance(inner, int) and not isinstance(inner, bool):
            return inner
    return None


def classify(exc_or_response: BaseException | httpx.Response | Any) -> ErrorClass:
    """The taxonomy class of an exception, an HTTP response, or anything with a ``status_code``.

    Objects may also classify themselves with an ``error_class`` attribute (an
    :class:`~spec.taxonomy.ErrorClass` or its value), which scripted providers use to simulate
    failures. ``asyncio.CancelledError`` is not an error and is never passed here by the
    resilience layer; it classifies as unknown.
    """
    obj = exc_or_response
    declared = getattr(obj, "error_class", None)
    if isinstance(declared, ErrorClass):
        return declared
    if isinstance(declared, str):
        try:
            return ErrorClass(declared)
        except ValueError:
            pass
    status = status_code_of(obj)
    if status is not None and 400 <= status < 600:
        return classify_status(status)
    if isinstance(obj, BaseException):
        return _classify_exception(obj)
    if status is not None:
        return classify_status(status)  # raises: a non-error status
    return ErrorClass.UNKNOWN


def _classify_exception(exc: BaseException) -> ErrorClass:
    if isinstance(exc, asyncio.CancelledError):
        return ErrorClass.UNKNOWN
    if isinstance(exc, MemoryError):
        return ErrorClass.SYSTEM
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return ErrorClass.VALIDATION
    if isinstance(exc, httpx.TransportError):
        return ErrorClass.NETWORK
    if isinstance(exc, TimeoutError | ConnectionError | socket.gaierror | socket.herror):
        return ErrorClass.NETWORK
    if isinstance(exc, OSError):
        if exc.errno in RESOURCE_ERRNOS:
            return ErrorClass.SYSTEM
        if exc.errno in NETWORK_ERRNOS:
            return ErrorClass.NETWORK
        return ErrorClass.UNKNOWN
    if isinstance(exc, ValidationError | ValueError | TypeError):
        return ErrorClass.VALIDATION
    cause = exc.__cause__
    if cause is not None and cause is not exc:
        return classify(cause)
    return ErrorClass.UNKNOWN


def is_retryable(error_class: ErrorClass) -> bool:
    """The taxonomy's ``retryable`` flag for `error_class`."""
    return category(error_class).retryable


def escalation_level(error_class: ErrorClass) -> int | None:
    """The escalation level the taxonomy gives `error_class`, or ``None`` (monitor only)."""
    return category(error_class).escalation_level
