from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest

from runtime.worker.limits import TaskLimits, run_limited
from spec.policies import DEFAULT_POLICIES, GIB, ResourceLimits

pytestmark = pytest.mark.anyio


def test_limits_come_from_the_policy() -> None:
    limits = TaskLimits.from_policy(DEFAULT_POLICIES.resources)
    policy = DEFAULT_POLICIES.resources
    assert limits.max_duration_s == policy.max_duration_s
    assert limits.memory_bytes == policy.memory_bytes
    assert limits.cpu_seconds == int(policy.cpu_cores * policy.max_duration_s)
    assert limits.file_size_bytes == policy.disk_bytes


def test_a_task_may_tighten_but_not_loosen_the_time_limit() -> None:
    policy = ResourceLimits(max_duration_s=10)
    assert TaskLimits.from_policy(policy, max_duration_s=2).max_duration_s == 2
    assert TaskLimits.from_policy(policy, max_duration_s=99).max_duration_s == 10
    with pytest.raises(ValueError, match="max_duration_s"):
        TaskLimits.from_policy(policy, max_duration_s=0)


async def test_command_runs_in_the_workspace_with_the_given_environment(tmp_path: Path) -> None:
    limits = TaskLimits.from_policy(DEFAULT_POLICIES.resources)
    result = await run_limited(["sh", "-c", 'pwd; echo "$GREETING"; echo err >&2; exit 3'], cwd=tmp_path,
                               limits=limits, env={"GREETING": "hello", "PATH": os.environ["PATH"]})
    assert result.returncode == 3 and not result.ok
    assert result.stdout.split() == [str(tmp_path), "hello"]
    assert result.stderr.strip() == "err"


async def test_the_child_runs_under_the_rlimits(tmp_path: Path) -> None:
    limits = TaskLimits.from_policy(ResourceLimits(memory_bytes=GIB, max_duration_s=5, cpu_cores=1, disk_bytes=GIB))
    code = "import resource as r; print(*(r.getrlimit(x)[0] for x in (r.RLIMIT_AS, r.RLIMIT_CPU, r.RLIMIT_FSIZE)))"
    result = await run_limited([sys.executable, "-c", code], cwd=tmp_path, limits=limits)
    assert result.stdout.split() == [str(GIB), "5", str(GIB)]


async def test_memory_limit_stops_a_hungry_command(tmp_path: Path) -> None:
    limits = TaskLimits.from_policy(ResourceLimits(memory_bytes=256 * 1024 * 1024))
    result = await run_limited([sys.executable, "-c", "x = bytearray(1024 ** 3)"], cwd=tmp_path, limits=limits)
    assert not result.ok and result.hit_memory_limit


async def test_cpu_limit_stops_a_spinning_command(tmp_path: Path) -> None:
    limits = TaskLimits.from_policy(ResourceLimits(cpu_cores=1, max_duration_s=1))
    result = await run_limited([sys.executable, "-c", "while True: pass"], cwd=tmp_path, limits=limits)
    assert result.hit_cpu_limit or result.returncode == -signal.SIGKILL


async def test_file_size_limit_stops_a_large_write(tmp_path: Path) -> None:
    limits = TaskLimits.from_policy(ResourceLimits(disk_bytes=1024 * 1024))
    code = "open('big', 'wb').write(b'x' * (4 * 1024 * 1024))"
    result = await run_limited([sys.executable, "-c", code], cwd=tmp_path, limits=limits)
    assert not result.ok and result.hit_file_size_limit


async def test_cancellation_kills_the_whole_process_group(tmp_path: Path) -> None:
    limits = TaskLimits.from_policy(DEFAULT_POLICIES.resources)
    pids = tmp_path / "pids"
    script = f"sleep 300 & echo $! > {pids}; echo $$ >> {pids}; wait"
    task = asyncio.create_task(run_limited(["sh", "-c", script], cwd=tmp_path, limits=limits))
    deadline = time.monotonic() + 30
    while not (pids.exists() and len(pids.read_text().split()) == 2):
        assert time.monotonic() < deadline, "the command never started"
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for pid in map(int, pids.read_text().split()):
        deadline = time.monotonic() + 30
        while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, f"process {pid} survived cancellation"
            await asyncio.sleep(0.05)


async def test_output_keeps_only_the_tail(tmp_path: Path) -> None:
    from runtime.worker.limits import OUTPUT_TAIL_BYTES

    limits = TaskLimits.from_policy(DEFAULT_POLICIES.resources)
    code = f"import sys; sys.stdout.write('a' * {OUTPUT_TAIL_BYTES * 3} + 'END')"
    result = await run_limited([sys.executable, "-c", code], cwd=tmp_path, limits=limits)
    assert result.ok and result.stdout.endswith("END") and len(result.stdout) <= OUTPUT_TAIL_BYTES


async def test_an_empty_command_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="empty command"):
        await run_limited([], cwd=tmp_path, limits=TaskLimits.from_policy(DEFAULT_POLICIES.resources))
