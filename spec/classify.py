"""The one error classifier (seed 4.5, "Classify Error"): every failure maps to one taxonomy class.

The worker's task failures, the resilience layer and the simulator all classify here, so the
class of an error -- and with it whether it is retried (``retries_with_backoff``), counts
against a breaker (``counts_against_breaker``) and how it escalates -- is decided once:

* an object may declare its class (an ``error_class`` attribute: scripted providers, the
  worker's own ``TaskFailure``);
* an HTTP status follows the taxonomy's symptoms: 401/403 authentication, 429 rate limit, any
  other 4xx validation, 5xx a retryable service (network) error;
* exceptions by type: running out of memory or of an OS resource (:data:`RESOURCE_ERRNOS`) is a
  system error; a broken network path (:data:`NETWORK_ERRNOS`, timeouts, refused connections,
  DNS) a network error; bad input (``ValueError``, ``TypeError``, ``KeyError``, pydantic's
  ``ValidationError``) a validation error -- retrying it would fail the same way;
* otherwise the cause is classified, and failing that the error is unknown (retried).

A transport library's own exception types (httpx in the runtime) are added by the driver as
extra rules, so this module imports no I/O library.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from spec.system_resources import RESOURCE_OF_ERRNO
from spec.taxonomy import ErrorClass

#: OS error numbers meaning the machine ran out of something: no retry, clean up (seed "System Errors").
RESOURCE_ERRNOS = frozenset(RESOURCE_OF_ERRNO)

#: OS error numbers of a failed network path: retry with backoff (seed "Network Errors").
NETWORK_ERRNOS = frozenset(
    code
    for code in (
        getattr(errno, name, None)
        for name in ("ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH",
                     "ENETDOWN", "EHOSTDOWN", "EPIPE")
    )
    if code is not None
)

AUTH_STATUSES = frozenset({401, 403})
RATE_LIMIT_STATUS = 429

#: One rule: exceptions of these types have this class. Rules are tried in order.
ExceptionRule = tuple[type[BaseException] | tuple[type[BaseException], ...], ErrorClass]

_NETWORK_TYPES: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError, socket.gaierror, socket.herror)
_VALIDATION_TYPES: tuple[type[BaseException], ...] = (ValidationError, ValueError, TypeError, KeyError)


def classify_status(status_code: int) -> ErrorClass:
    """The class of an HTTP error status; a non-error status is refused with a clear message."""
    if status_code in AUTH_STATUSES:
        return ErrorClass.AUTHENTICATION
    if status_code == RATE_LIMIT_STATUS:
        return ErrorClass.RATE_LIMIT
    if 400 <= status_code < 500:
        return ErrorClass.VALIDATION
    if 500 <= status_code < 600:
        return ErrorClass.NETWORK
    raise ValueError(f"HTTP status {status_code} is not an error status (expected 400-599); nothing to classify")


def _int_attribute(obj: object, name: str) -> int | None:
    value = getattr(obj, name, None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def status_code_of(obj: object) -> int | None:
    """The HTTP status an object carries, directly (``status_code``) or on its ``response``."""
    code = _int_attribute(obj, "status_code")
    if code is not None:
        return code
    response = getattr(obj, "response", None)
    if response is not None and response is not obj:
        return _int_attribute(response, "status_code")
    return None


def declared_class(obj: object) -> ErrorClass | None:
    """The class an object declares with an ``error_class`` attribute, if it is a known one."""
    declared = getattr(obj, "error_class", None)
    if isinstance(declared, ErrorClass):
        return declared
    if isinstance(declared, str):
        try:
            return ErrorClass(declared)
        except ValueError:
            return None
    return None


class ErrorClassifier:
    """Classifies exceptions, responses and anything carrying a ``status_code``."""

    def __init__(self, extra_rules: Sequence[ExceptionRule] = ()) -> None:
        #: Tried after memory exhaustion and before the built-in rules (a transport library's types).
        self.extra_rules = tuple(extra_rules)

    def __call__(self, obj: BaseException | Any) -> ErrorClass:
        declared = declared_class(obj)
        if declared is not None:
            return declared
        status = status_code_of(obj)
        if status is not None and 400 <= status < 600:
            return classify_status(status)
        if isinstance(obj, BaseException):
            return self._classify_exception(obj)
        if status is not None:
            return classify_status(status)  # raises: a non-error status
        return ErrorClass.UNKNOWN

    def _classify_exception(self, exc: BaseException) -> ErrorClass:
        if isinstance(exc, MemoryError):
            return ErrorClass.SYSTEM
        for types, error_class in self.extra_rules:
            if isinstance(exc, types):
                return error_class
        if isinstance(exc, _NETWORK_TYPES):
            return ErrorClass.NETWORK
        if isinstance(exc, OSError):
            if exc.errno in RESOURCE_ERRNOS:
                return ErrorClass.SYSTEM
            if exc.errno in NETWORK_ERRNOS:
                return ErrorClass.NETWORK
            return ErrorClass.UNKNOWN
        if isinstance(exc, _VALIDATION_TYPES):
            return ErrorClass.VALIDATION
        cause = exc.__cause__
        if cause is not None and cause is not exc:
            return self(cause)
        return ErrorClass.UNKNOWN


#: The classifier without transport-specific rules (the simulator's and the checker's).
classify = ErrorClassifier()
