"""The one classifier (spec.classify) and the taxonomy properties it feeds."""

from __future__ import annotations

import errno

import pytest

from spec.classify import NETWORK_ERRNOS, RESOURCE_ERRNOS, classify
from spec.taxonomy import ErrorClass, category


def test_key_error_is_a_validation_error() -> None:
    """Disagreement 8: retrying a missing key fails the same way, so it is not retried."""
    assert classify(KeyError("issueId")) is ErrorClass.VALIDATION


@pytest.mark.parametrize("code", ["ENOSPC", "ENOMEM", "EDQUOT", "EMFILE", "ENFILE", "ENOBUFS"])
def test_every_resource_errno_is_a_system_error(code: str) -> None:
    number = getattr(errno, code, None)
    if number is None:
        pytest.skip(f"{code} does not exist on this platform")
    assert number in RESOURCE_ERRNOS
    assert classify(OSError(number, code)) is ErrorClass.SYSTEM


def test_network_errnos_and_types_are_network_errors() -> None:
    assert errno.ECONNREFUSED in NETWORK_ERRNOS
    assert classify(OSError(errno.ENETUNREACH, "unreachable")) is ErrorClass.NETWORK
    assert classify(ConnectionResetError()) is ErrorClass.NETWORK


def test_statuses_declared_classes_and_causes() -> None:
    class Answer(Exception):
        def __init__(self, status_code: int) -> None:
            super().__init__(status_code)
            self.status_code = status_code

    assert [classify(Answer(s)) for s in (401, 429, 404, 503)] == [
        ErrorClass.AUTHENTICATION, ErrorClass.RATE_LIMIT, ErrorClass.VALIDATION, ErrorClass.NETWORK]
    wrapped = RuntimeError("outer")
    wrapped.__cause__ = MemoryError()
    assert classify(wrapped) is ErrorClass.SYSTEM
    assert classify(RuntimeError("?")) is ErrorClass.UNKNOWN


def test_counts_against_breaker_is_a_taxonomy_property() -> None:
    """Disagreement 2: only evidence of an unhealthy service counts."""
    counting = {c for c in ErrorClass if category(c).counts_against_breaker}
    assert counting == {ErrorClass.NETWORK, ErrorClass.UNKNOWN}
    assert {c for c in ErrorClass if category(c).retries_with_backoff} == {ErrorClass.NETWORK, ErrorClass.UNKNOWN}
