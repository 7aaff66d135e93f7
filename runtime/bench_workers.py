"""Throughput of the product's own workers: N ``python -m runtime worker`` processes (issue 12).

Prints figures; asserts nothing. ``python -m runtime.bench_workers [--tasks N] [--workers N]
[--tasks-per-poll N ...]`` starts ``python -m runtime orchestrator`` on a fresh SQLite file and
``--workers`` worker processes exactly as users start them (token in a file, ``--no-detect``,
one capability, their own workspace roots), waits until every one is registered and idle, then submits
``--tasks`` no-op workflows through `runtime.Client.submit_many` and stops the clock at the
last completion. Submission is inside the clock (workers start on the first batch while the
rest is still being submitted), so the figure is what a user who submits a burst sees.

``--store postgresql`` runs the same on a throwaway PostgreSQL server
(`runtime.bench_postgres_server`) with ``--replicas`` orchestrator processes on one database:
the workers are split across the replicas, each given every replica's URL (its own first), and
the batches of the submission are dealt round-robin to the replicas.

Progress is read from the store itself (`runtime.bench_progress`: a read-only SQLite connection,
or a read-only PostgreSQL connection of its own, every 50 ms), so measuring adds no HTTP
requests to the orchestrators under test. `runtime.bench` prints the same runs next to its
bench-only loops (the orchestrator's ceiling) and the yardsticks.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from runtime.bench_orchestrator import ADMIN_TOKEN, WORKER_TOKEN, start_orchestrator, stop, write_token_file
from runtime.bench_postgres_server import NO_POSTGRES, PASSWORD, PostgresServer, start_postgres_server
from runtime.bench_progress import PostgresProgress, SqliteProgress, StoreProgress
from runtime.client import Client
from runtime.protocol import MAX_BATCH_WORKFLOWS, WorkflowRequest

#: Longest a benchmark phase may take before it is reported as stuck rather than measured.
PHASE_TIMEOUT_S = 600.0
POLL_S = 0.05


def _wait_for(predicate: Callable[[], bool], what: str, procs: Sequence[subprocess.Popen[Any]]) -> None:
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while not predicate():
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise SystemExit(f"a worker or orchestrator exited (code {dead[0].returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {PHASE_TIMEOUT_S:.0f} s waiting for {what}")
        time.sleep(POLL_S)


def _start_workers(urls: list[str], count: int, tasks_per_poll: int, scratch: Path) -> list[subprocess.Popen[bytes]]:
    """`count` workers split across the replicas' `urls`: worker i asks replica ``i mod len(urls)`` first
    and knows every other replica to fail over to (``--orchestrator a,b``)."""
    token_file = write_token_file(scratch / "worker-token", WORKER_TOKEN)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    procs = []
    for i in range(count):
        first = i % len(urls)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "runtime", "worker", "--orchestrator", ",".join(urls[first:] + urls[:first]),
             "--token-file", str(token_file),
             "--no-detect", "--capability", "bench", "--worker-id", f"bench-{i}",
             "--workspace-root", str(scratch / f"ws{i}"),
             "--tasks-per-poll", str(tasks_per_poll), "--log-level", "WARNING"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
    return procs


async def _submit(urls: list[str], tasks: int) -> None:
    """`tasks` no-op workflows in bulk, the batches dealt round-robin to the replicas, one lane per replica."""
    chunks = [min(MAX_BATCH_WORKFLOWS, tasks - start) for start in range(0, tasks, MAX_BATCH_WORKFLOWS)]

    async def lane(index: int, url: str) -> None:
        async with Client(url, ADMIN_TOKEN, timeout_s=120) as client:
            for chunk in chunks[index::len(urls)]:
                await client.submit_many([WorkflowRequest(type="noop") for _ in range(chunk)])

    await asyncio.gather(*(lane(i, url) for i, url in enumerate(urls)))


def _measure(urls: list[str], progress: StoreProgress, tasks: int, workers: int, tasks_per_poll: int,
             scratch: Path, orchestrators: list[subprocess.Popen[str]]) -> tuple[int, float]:
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs = _start_workers(urls, workers, tasks_per_poll, scratch)
        watched: list[subprocess.Popen[Any]] = [*procs, *orchestrators]
        _wait_for(lambda: progress.idle_workers() >= workers, f"{workers} idle workers", watched)
        started_wall, started = time.time(), time.perf_counter()
        asyncio.run(_submit(urls, tasks))
        _wait_for(lambda: progress.completions()[0] >= tasks, f"{tasks} completions", watched)
        completed, last = progress.completions()
        # The store's own completion stamp, not when this loop noticed: polling adds no time.
        elapsed = time.perf_counter() - started if last is None else min(last - started_wall,
                                                                         time.perf_counter() - started)
        return completed, elapsed
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)


def run(tasks: int, workers: int, tasks_per_poll: int) -> tuple[int, float]:
    """On SQLite: (tasks completed, seconds from the first submission to the last completion)."""
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as tmp:
        scratch = Path(tmp)
        db = scratch / "bench.db"
        orchestrator, url = start_orchestrator(db)
        progress = SqliteProgress(db)
        try:
            return _measure([url], progress, tasks, workers, tasks_per_poll, scratch, [orchestrator])
        finally:
            stop(orchestrator)


def run_postgres(server: PostgresServer, tasks: int, workers: int, tasks_per_poll: int,
                 replicas: int = 1) -> tuple[int, float]:
    """The same run on a fresh database of `server` with `replicas` orchestrators (processes on this machine)."""
    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, not {replicas}")
    database = server.create_database()
    with tempfile.TemporaryDirectory(prefix="bench-workers-pg-") as tmp:
        scratch = Path(tmp)
        orchestrators: list[subprocess.Popen[str]] = []
        progress: StoreProgress | None = None
        try:
            urls = []
            for i in range(replicas):
                proc, url = start_orchestrator(server.url(database, password=False), scratch=scratch,
                                               name=f"replica{i}", password=PASSWORD)
                orchestrators.append(proc)
                urls.append(url)
            progress = PostgresProgress(server.url(database))
            return _measure(urls, progress, tasks, workers, tasks_per_poll, scratch, orchestrators)
        finally:
            if progress is not None:
                progress.close()
            for proc in reversed(orchestrators):  # the first replica leads: stopping it last hands nothing over
                stop(proc)
            server.drop_databases([database])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.bench_workers", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--tasks-per-poll", type=int, nargs="+", default=[1, 8, 64],
                        help="the workers' --tasks-per-poll; one run per value")
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default="sqlite",
                        help="postgresql: a throwaway server started here (needs PostgreSQL's initdb/pg_ctl)")
    parser.add_argument("--replicas", type=int, default=1, help="orchestrator replicas (postgresql only)")
    args = parser.parse_args(argv)
    if args.replicas < 1 or (args.replicas > 1 and args.store != "postgresql"):
        parser.error("--replicas must be at least 1, and above 1 only with --store postgresql "
                     "(a SQLite file has one orchestrator)")
    server = None
    if args.store == "postgresql":
        server = start_postgres_server()
        if server is None:
            print(f"postgresql benchmark skipped: {NO_POSTGRES}")
            return 0
    try:
        for per_poll in args.tasks_per_poll:
            if server is None:
                done, seconds = run(args.tasks, args.workers, per_poll)
                where = "SQLite"
            else:
                done, seconds = run_postgres(server, args.tasks, args.workers, per_poll, args.replicas)
                where = f"PostgreSQL, {args.replicas} replica{'s' if args.replicas > 1 else ''}"
            print(f"{where}: {args.workers} x python -m runtime worker --tasks-per-poll {per_poll}: {done} no-op "
                  f"tasks in {seconds:.2f} s = {done / seconds:.0f} tasks/s (bulk submission inside the clock)")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
