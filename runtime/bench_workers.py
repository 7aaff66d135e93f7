"""Throughput of the product's own workers: N ``python -m runtime worker`` processes (issue 12).

Prints figures; asserts nothing. ``python -m runtime.bench_workers [--tasks N] [--workers N]
[--tasks-per-poll N ...]`` starts ``python -m runtime orchestrator`` on a fresh SQLite file and
``--workers`` worker processes exactly as users start them (token in a file, ``--no-detect``,
one capability, their own workspace roots), waits until every one is registered and idle, then submits
``--tasks`` no-op workflows through `runtime.Client.submit_many` and stops the clock at the
last completion. Submission is inside the clock (workers start on the first batch while the
rest is still being submitted), so the figure is what a user who submits a burst sees.

Progress is read from the store file itself (read-only SQLite, every 50 ms), so measuring adds
no HTTP requests to the orchestrator under test. `runtime.bench` prints the same run next to
its bench-only loops (the orchestrator's ceiling) and the Celery yardstick.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from runtime.bench_orchestrator import ADMIN_TOKEN, WORKER_TOKEN, start_orchestrator, stop, write_token_file
from runtime.client import Client
from runtime.protocol import MAX_BATCH_WORKFLOWS, WorkflowRequest
from spec.machines.task_lifecycle import TaskState
from spec.machines.worker_lifecycle import WorkerState

#: Longest a benchmark phase may take before it is reported as stuck rather than measured.
PHASE_TIMEOUT_S = 600.0
POLL_S = 0.05


def _count(db: Path, sql: str, *args: object) -> tuple[float, ...]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        row: tuple[float, ...] = conn.execute(sql, args).fetchone()
    return row


def _wait_for(predicate: Callable[[], bool], what: str, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while not predicate():
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise SystemExit(f"a worker exited (code {dead[0].returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {PHASE_TIMEOUT_S:.0f} s waiting for {what}")
        time.sleep(POLL_S)


def _start_workers(url: str, count: int, tasks_per_poll: int, scratch: Path) -> list[subprocess.Popen[bytes]]:
    token_file = write_token_file(scratch / "worker-token", WORKER_TOKEN)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    return [
        subprocess.Popen(
            [sys.executable, "-m", "runtime", "worker", "--orchestrator", url, "--token-file", str(token_file),
             "--no-detect", "--capability", "bench", "--worker-id", f"bench-{i}",
             "--workspace-root", str(scratch / f"ws{i}"),
             "--tasks-per-poll", str(tasks_per_poll), "--log-level", "WARNING"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]


async def _submit(url: str, tasks: int) -> None:
    async with Client(url, ADMIN_TOKEN, timeout_s=120) as client:
        remaining = tasks
        while remaining:
            chunk = min(remaining, MAX_BATCH_WORKFLOWS)
            await client.submit_many([WorkflowRequest(type="noop") for _ in range(chunk)])
            remaining -= chunk


def run(tasks: int, workers: int, tasks_per_poll: int) -> tuple[int, float]:
    """(tasks completed, seconds from the first submission to the last completion)."""
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        scratch = Path(tmp)
        db = scratch / "bench.db"
        orchestrator, url = start_orchestrator(db)
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs = _start_workers(url, workers, tasks_per_poll, scratch)
            idle = "SELECT count(*) FROM workers WHERE status = ?"
            _wait_for(lambda: _count(db, idle, str(WorkerState.IDLE))[0] >= workers,
                      f"{workers} idle workers", procs)
            started_wall, started = time.time(), time.perf_counter()
            asyncio.run(_submit(url, tasks))
            done = "SELECT count(*), max(updated_at) FROM tasks WHERE status = ?"
            _wait_for(lambda: _count(db, done, str(TaskState.COMPLETED))[0] >= tasks, f"{tasks} completions", procs)
            completed, last = _count(db, done, str(TaskState.COMPLETED))
            # The store's own completion stamp, not when this loop noticed: polling adds no time.
            elapsed = min(last - started_wall, time.perf_counter() - started)
            return int(completed), elapsed
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(60)
            stop(orchestrator)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.bench_workers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--tasks-per-poll", type=int, nargs="+", default=[1, 8, 64],
                        help="the workers' --tasks-per-poll; one run per value")
    args = parser.parse_args(argv)
    for per_poll in args.tasks_per_poll:
        done, seconds = run(args.tasks, args.workers, per_poll)
        print(f"{args.workers} x python -m runtime worker --tasks-per-poll {per_poll}: {done} no-op tasks in "
              f"{seconds:.2f} s = {done / seconds:.0f} tasks/s (bulk submission inside the clock)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
