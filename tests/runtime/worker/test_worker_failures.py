from __future__ import annotations

import errno

import httpx
import pytest

from runtime.worker.errors import LeaseLostError, TaskFailure
from runtime.worker.failures import MAX_MESSAGE_CHARS, classify_exception, command_failure, timeout_error
from runtime.worker.limits import CommandResult
from spec.taxonomy import ErrorClass, FailureCode


def test_timeout_is_classified_and_says_timeout() -> None:
    error = timeout_error(1.5)
    assert error.code == FailureCode.TIMEOUT.value and "timeout" in error.message and "1.5 s" in error.message


@pytest.mark.parametrize(
    ("exc", "code", "error_class"),
    [
        (TaskFailure("tests failed", code=FailureCode.TEST_FAILED, error_class=ErrorClass.VALIDATION),
         FailureCode.TEST_FAILED, ErrorClass.VALIDATION),
        (MemoryError(), FailureCode.RESOURCE_EXHAUSTED, ErrorClass.SYSTEM),
        (OSError(errno.ENOSPC, "No space left on device"), FailureCode.RESOURCE_EXHAUSTED, ErrorClass.SYSTEM),
        (ConnectionRefusedError(), FailureCode.TASK_ERROR, ErrorClass.NETWORK),
        (TimeoutError(), FailureCode.TASK_ERROR, ErrorClass.NETWORK),
        (ValueError("bad input"), FailureCode.TASK_ERROR, ErrorClass.VALIDATION),
        (KeyError("field"), FailureCode.TASK_ERROR, ErrorClass.VALIDATION),
        (LeaseLostError("409"), FailureCode.TASK_ERROR, ErrorClass.VALIDATION),
        (RuntimeError("boom"), FailureCode.TASK_ERROR, ErrorClass.UNKNOWN),
    ],
)
def test_exceptions_are_classified_per_the_taxonomy(exc: BaseException, code: FailureCode,
                                                    error_class: ErrorClass) -> None:
    error = classify_exception(exc)
    assert (error.code, error.error_class) == (code.value, error_class.value)


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(401, ErrorClass.AUTHENTICATION), (429, ErrorClass.RATE_LIMIT), (502, ErrorClass.NETWORK),
     (400, ErrorClass.VALIDATION)],
)
def test_http_errors_of_a_dependency_are_classified(status: int, error_class: ErrorClass) -> None:
    request = httpx.Request("GET", "http://ai.test/")
    exc = httpx.HTTPStatusError("x", request=request, response=httpx.Response(status, request=request))
    assert classify_exception(exc).error_class == error_class.value


def test_long_messages_are_cut_to_the_wire_limit() -> None:
    assert len(classify_exception(RuntimeError("x" * 10_000)).message) == MAX_MESSAGE_CHARS


def test_a_failed_command_keeps_its_code_and_resource_limits_become_resource_exhausted() -> None:
    failed = CommandResult(("make",), 2, "", "error: missing target", 0.1)
    failure = command_failure(failed, FailureCode.BUILD_FAILED)
    assert failure.code is FailureCode.BUILD_FAILED and "exited with 2" in str(failure)
    assert "missing target" in str(failure)
    hungry = CommandResult(("python",), 1, "", "Traceback...\nMemoryError", 0.1)
    assert command_failure(hungry).code is FailureCode.RESOURCE_EXHAUSTED
