"""The runtime's exceptions: one small hierarchy whose messages say what to do next.

HTTP handlers turn :class:`ApiError` subclasses into ``{"error": {"field", "reason"}}`` bodies;
the CLI turns :class:`RuntimeServiceError` into one line on stderr and a non-zero exit.
"""

from __future__ import annotations


class RuntimeServiceError(Exception):
    """Base class of every error raised by :mod:`runtime`."""


class RuntimeConfigError(RuntimeServiceError):
    """Configuration is missing or invalid; the message names the field or file."""


class StartupFailedError(RuntimeServiceError):
    """Orchestrator startup ended in the startup machine's ``failed`` state."""


class PortInUseError(StartupFailedError):
    """The HTTP port is taken by another process (startup ``port_in_use``)."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        super().__init__(f"port {port} on {host} is already in use; stop the other process or pass another --port")


class StoreError(RuntimeServiceError):
    """The database cannot be opened or used; the message names the path and the cause."""


class SchemaError(StoreError):
    """The database schema does not match the models after migrations ran."""


class ApiError(RuntimeServiceError):
    """A request the API refuses, with the HTTP status, the offending field and why."""

    status_code = 400

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(reason)

    def __str__(self) -> str:
        return f"{self.status_code}: {self.field + ': ' if self.field else ''}{self.reason}"


class NotFoundError(ApiError):
    """An id the store does not know (404)."""

    status_code = 404


class ConflictError(ApiError):
    """The request contradicts the current state: stale lease, illegal transition (409)."""

    status_code = 409


class UnavailableError(ApiError):
    """The orchestrator is shutting down and refuses new work (503)."""

    status_code = 503


class DatabaseUnavailableError(UnavailableError):
    """A write failed for a database fault (`spec.database_faults`): 503, ``Retry-After``, cause and fix."""

    def __init__(self, reason: str, *, fault: str, retry_after_s: float) -> None:
        super().__init__(reason, field=None)
        self.fault = fault
        self.retry_after_s = retry_after_s


class TooManyRequestsError(ApiError):
    """The caller exceeds a per-caller rate from the spec's policies (429, with ``Retry-After``)."""

    status_code = 429

    def __init__(self, reason: str, *, retry_after_s: float, field: str | None = None) -> None:
        super().__init__(reason, field=field)
        self.retry_after_s = retry_after_s


class InvalidInputError(ApiError):
    """A well-formed request whose value the API cannot accept (422)."""

    status_code = 422
