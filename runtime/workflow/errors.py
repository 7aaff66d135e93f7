"""The workflow package's exceptions: one small hierarchy, each carrying its seed 4.5 error class.

``runtime.resilience.classify`` reads the ``error_class`` attribute, so every failure a provider
raises is retried (or not) by the taxonomy's rules: a network-ish git failure is retried with
backoff, a rejected push or a garbage patch is not.
"""

from __future__ import annotations

from collections.abc import Sequence

from spec.taxonomy import ErrorClass


class WorkflowError(Exception):
    """Base class of every error raised by :mod:`runtime.workflow`."""

    error_class: ErrorClass = ErrorClass.UNKNOWN


class WorkflowConfigError(WorkflowError, ValueError):
    """A provider or the task payload was configured with a value it cannot use; names the field."""

    error_class = ErrorClass.VALIDATION


class IssueNotFoundError(WorkflowError):
    """The git platform has no issue with this id."""

    error_class = ErrorClass.VALIDATION

    def __init__(self, issue_id: str, where: str, known: Sequence[str]) -> None:
        self.issue_id = issue_id
        self.where = where
        self.known = tuple(known)
        super().__init__(issue_id, where)

    def __str__(self) -> str:
        known = ", ".join(self.known) if self.known else "none"
        return f"issue {self.issue_id!r} not found in {self.where}; known issues: {known}"


class IssueFormatError(WorkflowError):
    """An issue file the local git platform cannot read; names the file and the problem."""

    error_class = ErrorClass.VALIDATION


class GitCommandError(WorkflowError):
    """A git command exited non-zero; ``error_class`` comes from what git printed."""

    def __init__(self, argv: Sequence[str], returncode: int, output: str, error_class: ErrorClass) -> None:
        self.argv = tuple(argv)
        self.returncode = returncode
        self.output = output
        self.error_class = error_class
        super().__init__(argv, returncode)

    def __str__(self) -> str:
        tail = self.output.strip()[-1200:]
        command = " ".join(self.argv[1:])[:200]
        return f"git command {command!r} exited with {self.returncode} ({self.error_class.value}): {tail}"


class AIProviderError(WorkflowError):
    """The AI provider failed; ``error_class`` decides whether the call is retried."""

    def __init__(self, message: str, *, error_class: ErrorClass = ErrorClass.UNKNOWN,
                 retry_after_s: float | None = None) -> None:
        self.error_class = error_class
        # Read by runtime.resilience.retry_after_s, as a server's Retry-After header would be.
        self.retry_after_s = retry_after_s
        super().__init__(message)


class PatchError(WorkflowError):
    """The AI provider's output is not a usable patch (garbage, unsafe paths, or it does not apply)."""

    error_class = ErrorClass.VALIDATION


class GateFailedError(WorkflowError):
    """A quality gate (build or tests) failed; never retried: the code, not the service, is at fault."""

    def __init__(self, gate: str, message: str, *, error_class: ErrorClass = ErrorClass.VALIDATION) -> None:
        self.gate = gate
        self.error_class = error_class
        super().__init__(message)
