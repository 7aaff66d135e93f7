"""Turn whatever stopped a task into a classified error (seed 4.5 "Error Classification").

A failed task always reports a `spec.taxonomy.FailureCode` and a `spec.taxonomy.ErrorClass`,
so the orchestrator's retry decisions and the alerting rules read the taxonomy, not free text.
The class comes from the one classifier (`spec.classify`, with the runtime's httpx rules), so a
task failure and the resilience layer never classify the same error differently; only the
failure code is decided here.
"""

from __future__ import annotations

from runtime.protocol import TaskError
from runtime.resilience.classify import classify
from runtime.worker.errors import TaskFailure
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
    error_class = classify(exc)
    if isinstance(exc, MemoryError):
        return task_error(FailureCode.RESOURCE_EXHAUSTED, error_class, f"out of memory: {text}")
    if isinstance(exc, OSError) and error_class is ErrorClass.SYSTEM:
        return task_error(FailureCode.RESOURCE_EXHAUSTED, error_class, text)
    return task_error(FailureCode.TASK_ERROR, error_class, text)


def command_failure(result: CommandResult, code: FailureCode = FailureCode.TASK_ERROR) -> TaskFailure:
    """The failure for a command that exited non-zero; resource limits become RESOURCE_EXHAUSTED."""
    tail = (result.stderr or result.stdout)[-1500:].strip()
    what = f"command {' '.join(result.argv)[:200]!r} exited with {result.returncode}"
    if result.hit_cpu_limit or result.hit_memory_limit or result.hit_file_size_limit or result.hit_disk_quota:
        limit = ("workspace disk quota" if result.hit_disk_quota else "CPU" if result.hit_cpu_limit
                 else "memory" if result.hit_memory_limit else "file size")
        return TaskFailure(
            f"{what}: {limit} limit exceeded\n{tail}",
            code=FailureCode.RESOURCE_EXHAUSTED,
            error_class=ErrorClass.SYSTEM,
        )
    return TaskFailure(f"{what}\n{tail}", code=code, error_class=ErrorClass.UNKNOWN)
