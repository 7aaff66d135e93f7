"""Turn whatever stopped a task into a classified error (seed 4.5 "Error Classification").

A failed task always reports a `spec.taxonomy.FailureCode` and a `spec.taxonomy.ErrorClass`,
so the orchestrator's retry decisions and the alerting rules read the taxonomy, not free text.
"""

from __future__ import annotations

import errno

import httpx
from pydantic import ValidationError

from runtime.protocol import TaskError
from runtime.worker.errors import OrchestratorError, TaskFailure
from runtime.worker.limits import CommandResult
from spec.taxonomy import ErrorClass, FailureCode


def _wire_max_length(model: type[TaskError], field: str) -> int:
    """The ``max_length`` the wire model declares for `field` (kept in one place: runtime.protocol)."""
    for constraint in model.model_fields[field].metadata:
        value = getattr(constraint, "max_length", None)
        if isinstance(value, int):
            return value
    raise LookupError(f"{model.__name__}.{field} declares no max_length")


MAX_MESSAGE_CHARS = _wire_max_length(TaskError, "message")


def task_error(code: FailureCode, error_class: ErrorClass, message: str) -> TaskError:
    # An exception's text may hold lone surrogates, which are not JSON: the orchestrator would refuse
    # the report and the task would run again forever. Replace them, so the failure always goes out.
    message = message.encode("utf-8", "replace").decode("utf-8")
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - 3] + "..."
    return TaskError(code=code.value, error_class=error_class.value, message=message)


def timeout_error(limit_s: float) -> TaskError:
    """The task outlived ``ResourceLimits.max_duration_s`` (or its tighter payload limit)."""
    return task_error(
        FailureCode.TIMEOUT, ErrorClass.SYSTEM, f"timeout: the task exceeded its time limit of {limit_s:g} s"
    )


def classify_exception(exc: BaseException) -> TaskError:
    """The classified error for an exception a handler raised."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, TaskFailure):
        return task_error(exc.code, exc.error_class, str(exc))
    if isinstance(exc, MemoryError):
        return task_error(FailureCode.RESOURCE_EXHAUSTED, ErrorClass.SYSTEM, f"out of memory: {text}")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EMFILE):
        return task_error(FailureCode.RESOURCE_EXHAUSTED, ErrorClass.SYSTEM, text)
    if isinstance(exc, OrchestratorError):
        return task_error(FailureCode.TASK_ERROR, exc.error_class, text)
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        if status in (401, 403):
            return task_error(FailureCode.TASK_ERROR, ErrorClass.AUTHENTICATION, text)
        if status == 429:
            return task_error(FailureCode.TASK_ERROR, ErrorClass.RATE_LIMIT, text)
        if status >= 500:
            return task_error(FailureCode.TASK_ERROR, ErrorClass.NETWORK, text)
        return task_error(FailureCode.TASK_ERROR, ErrorClass.VALIDATION, text)
    if isinstance(exc, ConnectionError | TimeoutError | httpx.TransportError):
        return task_error(FailureCode.TASK_ERROR, ErrorClass.NETWORK, text)
    if isinstance(exc, ValueError | TypeError | KeyError | ValidationError):
        return task_error(FailureCode.TASK_ERROR, ErrorClass.VALIDATION, text)
    return task_error(FailureCode.TASK_ERROR, ErrorClass.UNKNOWN, text)


def command_failure(result: CommandResult, code: FailureCode = FailureCode.TASK_ERROR) -> TaskFailure:
    """The failure for a command that exited non-zero; resource limits become RESOURCE_EXHAUSTED."""
    tail = (result.stderr or result.stdout)[-1500:].strip()
    what = f"command {' '.join(result.argv)[:200]!r} exited with {result.returncode}"
    if result.hit_cpu_limit or result.hit_memory_limit or result.hit_file_size_limit:
        limit = "CPU" if result.hit_cpu_limit else "memory" if result.hit_memory_limit else "file size"
        return TaskFailure(
            f"{what}: {limit} limit exceeded\n{tail}",
            code=FailureCode.RESOURCE_EXHAUSTED,
            error_class=ErrorClass.SYSTEM,
        )
    return TaskFailure(f"{what}\n{tail}", code=code, error_class=ErrorClass.UNKNOWN)
