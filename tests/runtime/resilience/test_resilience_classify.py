"""Classification follows the spec taxonomy (seed 4.5 "Error Classification")."""

from __future__ import annotations

import asyncio
import errno
import socket

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from runtime.resilience import (
    AuthenticationFailedError,
    CircuitOpenError,
    RateLimitedError,
    classify,
    classify_status,
    escalation_level,
    is_retryable,
)
from spec.taxonomy import TAXONOMY, ErrorClass

REQUEST = httpx.Request("GET", "http://127.0.0.1/x")


def _status_error(code: int) -> httpx.HTTPStatusError:
    response = httpx.Response(code, request=REQUEST)
    return httpx.HTTPStatusError(f"HTTP {code}", request=REQUEST, response=response)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (401, ErrorClass.AUTHENTICATION),
        (403, ErrorClass.AUTHENTICATION),
        (429, ErrorClass.RATE_LIMIT),
        (400, ErrorClass.VALIDATION),
        (404, ErrorClass.VALIDATION),
        (422, ErrorClass.VALIDATION),
        (500, ErrorClass.NETWORK),
        (502, ErrorClass.NETWORK),
        (503, ErrorClass.NETWORK),
    ],
)
def test_http_statuses_in_every_form(code: int, expected: ErrorClass) -> None:
    class WithStatus:
        status_code = code

    assert classify(httpx.Response(code)) is expected
    assert classify(_status_error(code)) is expected
    assert classify(WithStatus()) is expected


@given(st.integers(min_value=400, max_value=599))
def test_every_error_status_has_exactly_the_taxonomy_class(code: int) -> None:
    got = classify_status(code)
    if code in (401, 403):
        assert got is ErrorClass.AUTHENTICATION
    elif code == 429:
        assert got is ErrorClass.RATE_LIMIT
    elif code < 500:
        assert got is ErrorClass.VALIDATION
    else:
        assert got is ErrorClass.NETWORK and is_retryable(got)


def test_a_success_status_is_refused_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="HTTP status 200 is not an error status"):
        classify(httpx.Response(200))


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("Connection refused", request=REQUEST),
        httpx.ReadTimeout("timed out", request=REQUEST),
        httpx.RemoteProtocolError("peer closed", request=REQUEST),
        ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"),
        ConnectionResetError(errno.ECONNRESET, "reset"),
        TimeoutError("timed out"),
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        OSError(errno.EHOSTUNREACH, "No route to host"),
    ],
)
def test_connection_failures_and_timeouts_are_network_errors(exc: BaseException) -> None:
    assert classify(exc) is ErrorClass.NETWORK


@pytest.mark.parametrize(
    "exc",
    [MemoryError(), OSError(errno.ENOSPC, "No space left on device"), OSError(errno.ENOMEM, "Cannot allocate")],
)
def test_resource_exhaustion_is_a_system_error(exc: BaseException) -> None:
    assert classify(exc) is ErrorClass.SYSTEM
    assert not is_retryable(ErrorClass.SYSTEM)


def test_validation_errors() -> None:
    class Model(BaseModel):
        n: int

    with pytest.raises(ValidationError) as info:
        Model.model_validate({"n": "x"})
    assert classify(info.value) is ErrorClass.VALIDATION
    assert classify(ValueError("bad input")) is ErrorClass.VALIDATION
    assert classify(httpx.UnsupportedProtocol("ftp://", request=REQUEST)) is ErrorClass.VALIDATION


def test_everything_else_is_unknown_and_causes_are_followed() -> None:
    assert classify(RuntimeError("Service unavailable")) is ErrorClass.UNKNOWN
    assert classify(OSError(errno.ENOENT, "missing")) is ErrorClass.UNKNOWN
    assert classify(asyncio.CancelledError()) is ErrorClass.UNKNOWN
    wrapped = RuntimeError("wrapped")
    wrapped.__cause__ = ConnectionRefusedError()
    assert classify(wrapped) is ErrorClass.NETWORK


def test_objects_and_our_own_errors_classify_themselves() -> None:
    class Scripted(Exception):
        error_class = "rate_limit"

    assert classify(Scripted()) is ErrorClass.RATE_LIMIT
    assert classify(CircuitOpenError("git", 3.0)) is ErrorClass.NETWORK
    assert classify(RateLimitedError("ai", limited_for_s=1, retry_after_s=None, escalated=False)) is (
        ErrorClass.RATE_LIMIT
    )
    assert classify(AuthenticationFailedError("git", "no")) is ErrorClass.AUTHENTICATION


def test_escalation_levels_come_from_the_taxonomy_text() -> None:
    for row in TAXONOMY:
        level = escalation_level(row.error_class)
        if level is None:
            assert "(level" not in row.escalation
        else:
            assert f"(level {level})" in row.escalation
