"""The reference worker (issue 3 §6–8): ``Worker`` with ``@worker.task`` handlers, or ``python -m runtime worker``."""

from __future__ import annotations

from runtime.worker.agent import Worker, default_workspace_root
from runtime.worker.builtin_tasks import ShellTask, noop_task, parse_shell_commands, sleep_task
from runtime.worker.capabilities import detect_capabilities, validate_capabilities
from runtime.worker.client import OrchestratorClient, error_for_response
from runtime.worker.context import CancelReason, TaskContext
from runtime.worker.errors import (
    AuthenticationError,
    CapabilitiesRejectedError,
    LeaseLostError,
    NotFoundError,
    OrchestratorError,
    OrchestratorUnavailableError,
    RateLimitedError,
    RequestRejectedError,
    TaskFailure,
    WorkerConfigError,
    WorkerError,
)
from runtime.worker.failures import classify_exception, command_failure, timeout_error
from runtime.worker.handler_call import TaskHandler
from runtime.worker.health import measure_health
from runtime.worker.limits import CommandResult, TaskLimits, run_limited
from runtime.worker.progress import ProgressReporter, ProgressUpdate
from runtime.worker.task_runner import TaskOutcome, TaskRunner
from runtime.worker.tracing import TraceRecorder
from runtime.worker.workspace import LeftoverWorkspace, Workspace, WorkspaceRoot

__all__ = [
    "AuthenticationError",
    "CancelReason",
    "CapabilitiesRejectedError",
    "CommandResult",
    "LeaseLostError",
    "LeftoverWorkspace",
    "NotFoundError",
    "OrchestratorClient",
    "OrchestratorError",
    "OrchestratorUnavailableError",
    "ProgressReporter",
    "ProgressUpdate",
    "RateLimitedError",
    "RequestRejectedError",
    "ShellTask",
    "TaskContext",
    "TaskFailure",
    "TaskHandler",
    "TaskLimits",
    "TaskOutcome",
    "TaskRunner",
    "TraceRecorder",
    "Worker",
    "WorkerConfigError",
    "WorkerError",
    "Workspace",
    "WorkspaceRoot",
    "classify_exception",
    "command_failure",
    "default_workspace_root",
    "detect_capabilities",
    "measure_health",
    "error_for_response",
    "noop_task",
    "parse_shell_commands",
    "run_limited",
    "sleep_task",
    "timeout_error",
    "validate_capabilities",
]
