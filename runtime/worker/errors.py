"""The worker's exceptions: one small hierarchy whose messages say what to do next.

Each error that comes from talking to the orchestrator carries the seed 4.5 error class
(`spec.taxonomy.ErrorClass`) so callers decide on retries from the taxonomy, not from status codes.
"""

from __future__ import annotations

from spec.taxonomy import ErrorClass, FailureCode


class WorkerError(Exception):
    """Base class of every error raised by :mod:`runtime.worker`."""


class WorkerConfigError(WorkerError):
    """Bad worker configuration (a capability name, a policy override, a command): names the field."""


class OrchestratorError(WorkerError):
    """The orchestrator answered with an error, or could not be reached."""

    error_class: ErrorClass = ErrorClass.UNKNOWN

    def __init__(self, message: str, *, status: int | None = None, field: str | None = None) -> None:
        self.status = status
        self.field = field
        super().__init__(message)

    @property
    def retryable(self) -> bool:
        from spec.taxonomy import category

        return category(self.error_class).retryable


class OrchestratorUnavailableError(OrchestratorError):
    """Connection refused, timed out, or a 5xx/503: the orchestrator is down, restarting or draining."""

    error_class = ErrorClass.NETWORK


class AuthenticationError(OrchestratorError):
    """401/403: the bearer token is missing or wrong; pass the orchestrator's token with --token."""

    error_class = ErrorClass.AUTHENTICATION


class RateLimitedError(OrchestratorError):
    """429: wait ``retry_after_s`` (from Retry-After, when the server sent one) before retrying."""

    error_class = ErrorClass.RATE_LIMIT

    def __init__(
        self, message: str, *, status: int | None = None, field: str | None = None, retry_after_s: float | None = None
    ) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message, status=status, field=field)


class RequestRejectedError(OrchestratorError):
    """400/413/422: the request itself is wrong; ``field`` names the offending field when known."""

    error_class = ErrorClass.VALIDATION


class NotFoundError(OrchestratorError):
    """404: the orchestrator does not know this worker or task (e.g. it forgot a worker it timed out)."""

    error_class = ErrorClass.VALIDATION


class LeaseLostError(OrchestratorError):
    """409: this worker no longer holds the task's lease (expired, re-queued or fenced); drop the task."""

    error_class = ErrorClass.VALIDATION


class CapabilitiesRejectedError(WorkerError):
    """The orchestrator refused the registration because of the capability list."""


class EmergencyShutdownError(WorkerError):
    """The worker shut itself down after a critical system error (seed 4.5 flowchart G), its tasks handed
    back with their saved state: fix the cause the message names (free the disk), then start it again."""


class TaskFailure(WorkerError):
    """Raised by a task handler to fail its task with a classified error (seed 4.5)."""

    def __init__(
        self,
        message: str,
        *,
        code: FailureCode = FailureCode.TASK_ERROR,
        error_class: ErrorClass = ErrorClass.UNKNOWN,
    ) -> None:
        self.code = code
        self.error_class = error_class
        super().__init__(message)
