"""Quality gates (seed participant "Quality Gates"): configured build and test commands in the checkout.

Commands come from the worker's configuration, never from the task payload: whoever can submit a
workflow must not be able to run arbitrary commands on the workers. Each runs in the checkout
under the task's resource limits, and every line it prints is handed on as it appears (the seed's
"Build Progress" and "Test Progress" loops).
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from runtime.workflow.commands import run_in_checkout
from runtime.workflow.errors import WorkflowConfigError
from runtime.workflow.providers import Checkout, GateResult, LineSink

BUILD = "build"
TESTS = "tests"

Command = str | Sequence[str]


def command_argv(field: str, command: Command) -> tuple[str, ...]:
    """A shell command line (run by ``/bin/sh -c``) or an argv list, checked to be non-empty."""
    if isinstance(command, str):
        if not command.strip():
            raise WorkflowConfigError(f"{field}: the command is empty")
        return ("/bin/sh", "-c", command)
    argv = tuple(command)
    if not argv or not all(isinstance(a, str) and a for a in argv):
        raise WorkflowConfigError(f"{field}: an argv list must be non-empty strings, got {list(argv)!r}")
    return argv


class CommandQualityGates:
    """:class:`~runtime.workflow.providers.QualityGates` running one build and one test command."""

    def __init__(self, build: Command, tests: Command, *, name: str = "quality-gates:commands") -> None:
        self.build = command_argv("build", build)
        self.tests = command_argv("tests", tests)
        self.name = name

    @classmethod
    def from_strings(cls, build: str, tests: str) -> CommandQualityGates:
        """Gates from two command lines split like a shell would, without running a shell."""
        try:
            return cls(shlex.split(build), shlex.split(tests))
        except ValueError as exc:
            raise WorkflowConfigError(f"quality gate command: cannot parse ({exc})") from None

    async def run_build(self, checkout: Checkout, on_line: LineSink) -> GateResult:
        return GateResult(BUILD, await run_in_checkout(self.build, checkout, on_line=on_line))

    async def run_tests(self, checkout: Checkout, on_line: LineSink) -> GateResult:
        return GateResult(TESTS, await run_in_checkout(self.tests, checkout, on_line=on_line))
