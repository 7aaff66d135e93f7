"""Per-task resource limits (seed "Task Execution Workflow", Resource Limits) and limited subprocesses.

The time limit is enforced by the task runner around the whole handler. Commands a handler
starts run in their own process group with kernel limits set before ``exec``:

* memory   -> ``RLIMIT_AS`` (address space) = ``ResourceLimits.memory_bytes``
* CPU      -> ``RLIMIT_CPU`` = ``cpu_cores`` x the task's time limit, in CPU seconds
* disk     -> ``RLIMIT_FSIZE`` = ``disk_bytes`` (largest file a command may write)

Network bandwidth cannot be limited with rlimits; it is documented as not enforced.
When the task is cancelled (time limit, shutdown, lost lease) the whole process group is killed,
so no grandchild outlives its task.
"""

from __future__ import annotations

import asyncio
import math
import os
import resource
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from spec.policies import ResourceLimits

#: How much of a command's stdout/stderr is kept (the tail): enough for an error message.
OUTPUT_TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class TaskLimits:
    """The limits one task runs under: the policy's, optionally tightened by the task's payload."""

    max_duration_s: float
    memory_bytes: int
    cpu_seconds: int
    file_size_bytes: int

    @classmethod
    def from_policy(cls, policy: ResourceLimits, *, max_duration_s: float | None = None) -> TaskLimits:
        """Limits from `policy`; a task may ask for a *shorter* time limit, never a longer one."""
        duration = policy.max_duration_s if max_duration_s is None else min(max_duration_s, policy.max_duration_s)
        if duration <= 0:
            raise ValueError(f"max_duration_s must be > 0, got {duration}")
        return cls(
            max_duration_s=duration,
            memory_bytes=policy.memory_bytes,
            cpu_seconds=max(1, math.ceil(policy.cpu_cores * duration)),
            file_size_bytes=policy.disk_bytes,
        )

    def rlimits(self) -> list[tuple[int, int]]:
        """``(resource, value)`` pairs applied to every command of the task."""
        return [
            (resource.RLIMIT_AS, self.memory_bytes),
            (resource.RLIMIT_CPU, self.cpu_seconds),
            (resource.RLIMIT_FSIZE, self.file_size_bytes),
        ]

    def preexec(self) -> Callable[[], None]:
        """A ``preexec_fn`` that lowers the child's limits (never above the current hard limit)."""
        pairs = self.rlimits()

        def apply() -> None:
            for which, value in pairs:
                _soft, hard = resource.getrlimit(which)
                cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(which, (cap, cap))

        return apply


@dataclass(frozen=True)
class CommandResult:
    """How a limited command ended. ``returncode`` < 0 means killed by signal ``-returncode``."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def hit_cpu_limit(self) -> bool:
        return self.returncode == -signal.SIGXCPU

    @property
    def hit_memory_limit(self) -> bool:
        text = self.stderr[-4000:]
        return "MemoryError" in text or "Cannot allocate memory" in text or "out of memory" in text.lower()

    @property
    def hit_file_size_limit(self) -> bool:
        return self.returncode == -signal.SIGXFSZ or "File too large" in self.stderr[-4000:]


async def _tail(stream: asyncio.StreamReader | None) -> bytes:
    if stream is None:
        return b""
    kept = bytearray()
    while chunk := await stream.read(65536):
        kept += chunk
        if len(kept) > OUTPUT_TAIL_BYTES:
            del kept[: len(kept) - OUTPUT_TAIL_BYTES]
    return bytes(kept)


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def run_limited(
    argv: Sequence[str],
    *,
    cwd: Path,
    limits: TaskLimits,
    env: Mapping[str, str] | None = None,
) -> CommandResult:
    """Run `argv` in `cwd` under `limits`; on cancellation kill its process group, then re-raise."""
    if not argv:
        raise ValueError("command: an empty command cannot run")
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=str(cwd),
        env=dict(env) if env is not None else None,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group, killed as a whole
        preexec_fn=limits.preexec(),
    )
    try:
        stdout, stderr, returncode = await asyncio.gather(_tail(process.stdout), _tail(process.stderr), process.wait())
    except BaseException:
        _kill_group(process.pid)
        await asyncio.shield(process.wait())
        raise
    _kill_group(process.pid)  # a background grandchild must not outlive the command
    return CommandResult(
        argv=tuple(argv),
        returncode=returncode,
        stdout=stdout.decode(errors="replace"),
        stderr=stderr.decode(errors="replace"),
        duration_s=time.monotonic() - started,
    )
