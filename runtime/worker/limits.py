"""Per-task resource limits (seed "Task Execution Workflow", Resource Limits) and limited subprocesses.

The time limit is enforced by the task runner around the whole handler. Commands a handler
starts run in their own process group with kernel limits set before ``exec``:

* memory   -> ``RLIMIT_AS`` (address space) = ``ResourceLimits.memory_bytes``
* CPU      -> ``RLIMIT_CPU`` = ``cpu_cores`` x the task's time limit, in CPU seconds, and CPU affinity
  to ``cpu_cores`` (rounded up) of the worker's cores (`cpu_set`), where ``os.sched_setaffinity`` exists
* disk     -> ``RLIMIT_FSIZE`` = ``disk_bytes`` (largest file a command may write), and the workspace's
  total: measured every ``disk_check_interval_s`` while a command runs and once after it; over
  ``disk_bytes``, the command's process group is killed (``hit_disk_quota``)

Network bandwidth cannot be limited with rlimits; it is not enforced (docs/departures.md).

With ``ResourceLimits.sandbox`` each command runs under bubblewrap (`sandboxed`): the filesystem
read-only but for the task's workspace, a private ``/tmp``, its own process and IPC namespaces, and
killed with its parent. A worker configured so without ``bwrap`` refuses to start (`check_sandbox`).
When the task is cancelled (time limit, shutdown, lost lease) the whole process group is killed,
so no grandchild outlives its task.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import resource
import shutil
import signal
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from runtime.worker.errors import WorkerConfigError
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
    #: Whole cores the task's commands may run on (CPU affinity); ``None``: any.
    cpu_cores: int | None = None
    #: The workspace's total size a running command may reach, checked every `disk_check_interval_s`.
    workspace_bytes: int | None = None
    disk_check_interval_s: float | None = None
    #: Commands run under bubblewrap (`sandboxed`).
    sandbox: bool = False

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
            cpu_cores=math.ceil(policy.cpu_cores),
            workspace_bytes=policy.disk_bytes,
            disk_check_interval_s=policy.disk_check_interval_s,
            sandbox=policy.sandbox,
        )

    def rlimits(self) -> list[tuple[int, int]]:
        """``(resource, value)`` pairs applied to every command of the task."""
        return [
            (resource.RLIMIT_AS, self.memory_bytes),
            (resource.RLIMIT_CPU, self.cpu_seconds),
            (resource.RLIMIT_FSIZE, self.file_size_bytes),
        ]

    def preexec(self, key: str = "") -> Callable[[], None]:
        """A ``preexec_fn`` that lowers the child's limits (never above the current hard limit) and pins it to
        its cores (`cpu_set`; `key` spreads tasks over the cores)."""
        pairs = self.rlimits()
        cores = cpu_set(_allowed_cpus(), self.cpu_cores, key) if self.cpu_cores is not None else None

        def apply() -> None:
            for which, value in pairs:
                _soft, hard = resource.getrlimit(which)
                cap = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(which, (cap, cap))
            if cores is not None and hasattr(os, "sched_setaffinity"):
                os.sched_setaffinity(0, cores)

        return apply


def _allowed_cpus() -> frozenset[int]:
    """The cores this worker may use (its own affinity), or every core where the OS has no affinity."""
    if hasattr(os, "sched_getaffinity"):
        return frozenset(os.sched_getaffinity(0))
    return frozenset(range(os.cpu_count() or 1))


def cpu_set(allowed: frozenset[int], cores: int, key: str) -> frozenset[int] | None:
    """`cores` of the `allowed` cores, consecutive from an offset `key` picks (so tasks spread out);
    ``None`` when the task may use all of them anyway."""
    if cores <= 0:
        raise ValueError(f"cores must be > 0, got {cores}")
    if cores >= len(allowed):
        return None
    ordered = sorted(allowed)
    start = zlib.crc32(key.encode()) % len(ordered)
    return frozenset(ordered[(start + i) % len(ordered)] for i in range(cores))


#: The bubblewrap executable (Debian's ``bubblewrap`` package).
BWRAP = "bwrap"


def check_sandbox(policy: ResourceLimits) -> str:
    """At worker start: how commands will be isolated; a sandbox asked for without ``bwrap`` is refused."""
    if not policy.sandbox:
        return "commands run without a sandbox (resources.sandbox is off), with the worker's user's rights"
    found = shutil.which(BWRAP)
    if found is None:
        raise WorkerConfigError("policy resources.sandbox: is on, but bubblewrap's `bwrap` is not on PATH; install "
                                "it (apt-get install bubblewrap) or turn the sandbox off")
    return f"commands run in a bubblewrap sandbox ({found}): read-only filesystem but for their workspace"


def sandboxed(argv: Sequence[str], workspace: Path) -> list[str]:
    """`argv` wrapped in bubblewrap: only `workspace` (and a private /tmp) writable, own PID and IPC namespaces."""
    found = shutil.which(BWRAP)
    if found is None:
        raise WorkerConfigError("policy resources.sandbox: `bwrap` is no longer on PATH; the command did not run")
    where = str(workspace.resolve())
    return [found, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp",
            "--bind", where, where, "--unshare-pid", "--unshare-ipc", "--die-with-parent", "--chdir", where,
            "--", *argv]


def cpu_affinity_available() -> bool:
    """Whether the CPU cap in cores is enforced on this OS (the CPU-seconds budget always is)."""
    return hasattr(os, "sched_setaffinity")


def directory_bytes(path: Path) -> int:
    """Bytes allocated under `path` (files and directories, symlinks not followed); vanished entries count 0."""
    total = 0
    pending = [path]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    total += info.st_blocks * 512 if hasattr(info, "st_blocks") else info.st_size
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(Path(entry.path))
        except OSError:
            continue
    return total


@dataclass(frozen=True)
class CommandResult:
    """How a limited command ended. ``returncode`` < 0 means killed by signal ``-returncode``."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    duration_s: float
    #: Killed because the workspace outgrew ``TaskLimits.workspace_bytes``.
    hit_disk_quota: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.hit_disk_quota

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
    quota = _WorkspaceQuota(cwd, limits)
    process = await asyncio.create_subprocess_exec(
        *(sandboxed(argv, cwd) if limits.sandbox else argv),
        cwd=str(cwd),
        env=dict(env) if env is not None else None,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # its own process group, killed as a whole
        preexec_fn=limits.preexec(str(cwd)),
    )
    watchdog = asyncio.create_task(quota.watch(process.pid))
    try:
        stdout, stderr, returncode = await asyncio.gather(_tail(process.stdout), _tail(process.stderr), process.wait())
    except BaseException:
        _kill_group(process.pid)
        await asyncio.shield(process.wait())
        raise
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
    _kill_group(process.pid)  # a background grandchild must not outlive the command
    await quota.check(process.pid)  # what it wrote since the last look
    return CommandResult(
        argv=tuple(argv),
        returncode=returncode,
        stdout=stdout.decode(errors="replace"),
        stderr=stderr.decode(errors="replace"),
        duration_s=time.monotonic() - started,
        hit_disk_quota=quota.exceeded,
    )


class _WorkspaceQuota:
    """Measures the workspace while a command runs; kills the command's group once it is over the quota."""

    def __init__(self, workspace: Path, limits: TaskLimits) -> None:
        self.workspace = workspace
        self.limit = limits.workspace_bytes
        self.interval_s = limits.disk_check_interval_s
        self.exceeded = False

    async def watch(self, pid: int) -> None:
        if self.limit is None or self.interval_s is None:
            return
        while not self.exceeded:
            await asyncio.sleep(self.interval_s)
            await self.check(pid)

    async def check(self, pid: int) -> None:
        if self.limit is None or self.exceeded:
            return
        if await asyncio.to_thread(directory_bytes, self.workspace) > self.limit:
            self.exceeded = True
            _kill_group(pid)
