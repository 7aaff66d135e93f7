"""Task types every worker can run out of the box, so e2e tests and benchmarks run real work.

* ``noop``  — returns at once: measures the platform's own cost per task.
* ``sleep`` — waits ``seconds`` in ``steps``, one milestone per step: a long task with progress.
* ``shell`` — runs a command *configured on the worker* (``--shell-command NAME=CMD``) in the
  task's workspace under its limits. Commands from the payload itself run only when the worker
  was started with ``--allow-any-command``: otherwise anyone who can submit a workflow could run
  anything on every worker.
"""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Mapping
from typing import Any

from runtime.worker.context import TaskContext
from runtime.worker.errors import TaskFailure, WorkerConfigError
from spec.taxonomy import ErrorClass, FailureCode

#: How much of a command's stdout goes back in the task result.
RESULT_OUTPUT_CHARS = 2000


def _invalid(field: str, reason: str) -> TaskFailure:
    return TaskFailure(f"payload field {field!r}: {reason}", code=FailureCode.TASK_ERROR,
                       error_class=ErrorClass.VALIDATION)


async def noop_task(ctx: TaskContext) -> dict[str, Any]:
    """Do nothing and succeed."""
    return {}


async def sleep_task(ctx: TaskContext) -> dict[str, Any]:
    """Sleep ``seconds`` (default 1) split into ``steps`` (default 1), reporting a milestone per step;
    a task handed back with a saved state (an earlier attempt's ``stepsDone``) resumes after it."""
    seconds = ctx.payload.get("seconds", 1.0)
    steps = ctx.payload.get("steps", 1)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise _invalid("seconds", f"must be a non-negative number, got {seconds!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise _invalid("steps", f"must be a positive integer, got {steps!r}")
    saved = ctx.saved_state.get("stepsDone")
    resumed = saved if isinstance(saved, int) and not isinstance(saved, bool) and 0 <= saved <= steps \
        and ctx.saved_state.get("steps") == steps else 0
    for done in range(resumed + 1, steps + 1):
        await asyncio.sleep(seconds / steps)
        ctx.save_state({"stepsDone": done, "steps": steps})
        await ctx.progress(100.0 * done / steps, f"step {done}/{steps}", {"stepsDone": done}, milestone=True)
    return {"slept": seconds * (steps - resumed) / steps, "steps": steps, "resumedAfter": resumed}


def parse_shell_commands(specs: list[str]) -> dict[str, list[str]]:
    """``["build=make -j2", ...]`` -> ``{"build": ["make", "-j2"]}``; errors name the bad entry."""
    commands: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, cmdline = spec.partition("=")
        name = name.strip()
        if not sep or not name or not cmdline.strip():
            raise WorkerConfigError(f"--shell-command {spec!r}: expected NAME=COMMAND, e.g. build='make -j2'")
        try:
            argv = shlex.split(cmdline)
        except ValueError as exc:
            raise WorkerConfigError(f"--shell-command {name}: cannot parse command ({exc})") from None
        commands[name] = argv
    return commands


class ShellTask:
    """The ``shell`` handler: configured commands by name, arbitrary argv only when allowed."""

    def __init__(self, commands: Mapping[str, list[str]], *, allow_any_command: bool = False) -> None:
        self.commands = dict(commands)
        self.allow_any_command = allow_any_command

    def argv_for(self, payload: Mapping[str, Any]) -> tuple[str, list[str]]:
        command = payload.get("command")
        args = payload.get("args", [])
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise _invalid("args", "must be a list of strings")
        if isinstance(command, str):
            if command not in self.commands:
                known = ", ".join(sorted(self.commands)) or "none"
                raise _invalid("command", f"no configured command {command!r}; configured: {known}")
            return command, [*self.commands[command], *args]
        if isinstance(command, list) and command and all(isinstance(a, str) for a in command):
            if not self.allow_any_command:
                raise _invalid("command", "this worker runs configured commands only (start it with "
                                          "--allow-any-command to accept an argv list)")
            return command[0], [*command, *args]
        raise _invalid("command", "must name a configured command or be a non-empty argv list")

    async def __call__(self, ctx: TaskContext) -> dict[str, Any]:
        name, argv = self.argv_for(ctx.payload)
        env = ctx.payload.get("env", {})
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise _invalid("env", "must map names to string values")
        code_name = ctx.payload.get("failureCode", FailureCode.TASK_ERROR.value)
        try:
            failure_code = FailureCode(code_name)
        except ValueError:
            raise _invalid("failureCode", f"must be one of {', '.join(c.value for c in FailureCode)}") from None
        await ctx.progress(0.0, f"running {name}", {"command": name}, milestone=True)
        result = await ctx.run(*argv, env=env, failure_code=failure_code)
        await ctx.progress(100.0, f"{name} finished", {"returncode": result.returncode}, milestone=True)
        return {
            "command": name,
            "returncode": result.returncode,
            "stdout": result.stdout[-RESULT_OUTPUT_CHARS:],
            "durationS": round(result.duration_s, 3),
        }
