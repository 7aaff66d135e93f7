from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import time
from pathlib import Path

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.worker.errors import WorkerConfigError
from runtime.worker.failures import command_failure
from runtime.worker.limits import (
    TaskLimits,
    check_sandbox,
    cpu_affinity_available,
    cpu_set,
    directory_bytes,
    run_limited,
)
from spec.policies import DEFAULT_POLICIES, GIB, ResourceLimits
from spec.taxonomy import FailureCode

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


# -- CPU cap in cores and the workspace's total disk quota (issue 14 "honest limits") ---------------------------


def test_the_policy_gives_whole_cores_and_the_workspace_quota() -> None:
    policy = ResourceLimits(cpu_cores=1.5, disk_bytes=GIB, disk_check_interval_s=0.5)
    limits = TaskLimits.from_policy(policy)
    assert (limits.cpu_cores, limits.workspace_bytes, limits.disk_check_interval_s) == (2, GIB, 0.5)


@given(allowed=st.frozensets(st.integers(0, 255), min_size=1, max_size=64), cores=st.integers(1, 80),
       key=st.text(max_size=20))
def test_a_cpu_set_has_the_cores_asked_for_out_of_the_allowed_ones(allowed: frozenset[int], cores: int,
                                                                    key: str) -> None:
    chosen = cpu_set(allowed, cores, key)
    if cores >= len(allowed):
        assert chosen is None
    else:
        assert chosen is not None and len(chosen) == cores and chosen <= allowed
        assert cpu_set(allowed, cores, key) == chosen  # the same task key, the same cores


def test_a_cpu_set_of_no_cores_is_refused() -> None:
    with pytest.raises(ValueError, match="cores must be > 0"):
        cpu_set(frozenset({0, 1}), 0, "k")


async def test_the_child_runs_on_its_cores_only(tmp_path: Path) -> None:
    if not cpu_affinity_available() or len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs os.sched_setaffinity and at least two usable cores")
    limits = TaskLimits.from_policy(ResourceLimits(cpu_cores=1))
    result = await run_limited([sys.executable, "-c", "import os; print(len(os.sched_getaffinity(0)))"],
                               cwd=tmp_path, limits=limits)
    assert result.stdout.strip() == "1"


def _small_files(count: int, each: int) -> str:
    return f"for i in range({count}): open(f'part{{i}}', 'wb').write(b'x' * {each})"


async def test_a_workspace_outgrowing_its_quota_in_small_files_is_killed(tmp_path: Path) -> None:
    # Every file stays under the per-file limit; together they are over the workspace's total.
    limits = TaskLimits.from_policy(ResourceLimits(disk_bytes=1024 * 1024, disk_check_interval_s=0.05))
    code = _small_files(8, 512 * 1024) + "\nimport time; time.sleep(120)"
    result = await run_limited([sys.executable, "-c", code], cwd=tmp_path, limits=limits)
    assert result.hit_disk_quota and not result.ok and result.returncode == -signal.SIGKILL
    assert not result.hit_file_size_limit
    failure = command_failure(result)
    assert failure.code is FailureCode.RESOURCE_EXHAUSTED and "workspace disk quota" in str(failure)


async def test_a_quick_command_over_the_quota_is_caught_by_the_last_look(tmp_path: Path) -> None:
    limits = TaskLimits.from_policy(ResourceLimits(disk_bytes=1024 * 1024, disk_check_interval_s=60))
    result = await run_limited([sys.executable, "-c", _small_files(4, 512 * 1024)], cwd=tmp_path, limits=limits)
    assert result.returncode == 0 and result.hit_disk_quota and not result.ok


async def test_a_workspace_within_its_quota_is_left_alone(tmp_path: Path) -> None:
    limits = TaskLimits.from_policy(ResourceLimits(disk_bytes=8 * 1024 * 1024, disk_check_interval_s=0.05))
    result = await run_limited([sys.executable, "-c", _small_files(2, 512 * 1024)], cwd=tmp_path, limits=limits)
    assert result.ok and not result.hit_disk_quota


def test_directory_bytes_counts_nested_files(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "f").write_bytes(b"x" * 100_000)
    (tmp_path / "g").write_bytes(b"y" * 50_000)
    assert directory_bytes(tmp_path) >= 150_000
    assert directory_bytes(tmp_path / "missing") == 0


# -- optional bubblewrap sandbox ------------------------------------------------------------------------------

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed "
                                 "(apt-get install bubblewrap)")


@needs_bwrap
async def test_a_sandboxed_command_writes_only_its_workspace(tmp_path: Path) -> None:
    workspace, outside = tmp_path / "ws", tmp_path / "outside"
    workspace.mkdir()
    outside.mkdir()
    limits = TaskLimits.from_policy(ResourceLimits(sandbox=True))
    code = (f"import os; open('mine', 'w').write('ok'); print(os.getpid())\n"
            f"try:\n    open({str(outside / 'theirs')!r}, 'w')\nexcept OSError as e:\n    print('refused', e.errno)")
    result = await run_limited([sys.executable, "-c", code], cwd=workspace, limits=limits)
    assert result.ok, result.stderr
    pid, refused = result.stdout.splitlines()
    assert int(pid) < 10  # its own PID namespace: it sees no other process
    assert refused.startswith("refused") and (workspace / "mine").read_text() == "ok"
    assert not (outside / "theirs").exists() and result.argv[0] == sys.executable


def test_a_sandbox_without_bwrap_is_refused_at_start_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _name: None)
    with pytest.raises(WorkerConfigError, match=r"resources.sandbox.*apt-get install bubblewrap"):
        check_sandbox(ResourceLimits(sandbox=True))
    assert "without a sandbox" in check_sandbox(ResourceLimits())


@needs_bwrap
def test_a_sandbox_with_bwrap_is_reported() -> None:
    assert "bubblewrap sandbox" in check_sandbox(ResourceLimits(sandbox=True))
