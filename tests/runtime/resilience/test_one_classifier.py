"""Disagreement 8: the worker's task failures and the resilience layer classify through one classifier."""

from __future__ import annotations

import errno

import pytest

from runtime.resilience.classify import classify, counts_against_breaker
from runtime.worker.failures import classify_exception
from spec.classify import classify as spec_classify
from spec.taxonomy import ErrorClass, FailureCode

SAMPLES: list[BaseException] = [
    KeyError("issueId"), ValueError("bad"), OSError(errno.ENFILE, "too many open files"),
    OSError(errno.ENOBUFS, "no buffers"), OSError(errno.ENOSPC, "disk full"), MemoryError(),
    ConnectionRefusedError(), TimeoutError(), RuntimeError("?"),
]


@pytest.mark.parametrize("exc", SAMPLES, ids=lambda e: type(e).__name__ + str(getattr(e, "errno", "") or ""))
def test_task_failures_and_resilience_agree_on_the_class(exc: BaseException) -> None:
    assert classify_exception(exc).error_class == classify(exc).value == spec_classify(exc).value


def test_key_error_is_validation_everywhere() -> None:
    assert classify(KeyError("x")) is ErrorClass.VALIDATION
    assert not counts_against_breaker(KeyError("x"))


def test_resource_exhaustion_is_reported_as_such() -> None:
    assert classify_exception(OSError(errno.ENFILE, "too many open files")).code == FailureCode.RESOURCE_EXHAUSTED
    assert classify_exception(MemoryError()).code == FailureCode.RESOURCE_EXHAUSTED
