"""The pgqueuer yardstick for the PostgreSQL benchmark (issue 16 "Performance").

What users who want a PostgreSQL-backed queue would otherwise reach for, on the same server and
the same no-op workload as `runtime.bench_workers` on PostgreSQL: a fresh database on the
benchmark's server (`runtime.bench_postgres_server`) with pgqueuer's schema installed,
``--workers`` consumer processes (``python -m runtime.bench_pgqueuer consume``, one asyncpg
connection and one ``QueueManager`` each, ``batch_size`` = ``--batch`` jobs per dequeue, as our
workers' ``--tasks-per-poll``; pgqueuer's default of no cap on jobs in flight), started, and
each listener answering a NOTIFY, before the clock starts. Then ``--tasks``
jobs are enqueued in batches of `runtime.protocol.MAX_BATCH_WORKFLOWS` (submission inside the
clock, as ours), and the clock stops at the last ``successful`` row pgqueuer logged (its own
timestamp; a job counts once pgqueuer has recorded it done, as ours once the store has).

Prints figures; asserts nothing. Needs ``pip install pgqueuer`` (the ``bench`` extra) and
PostgreSQL's binaries.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from runtime.bench_postgres_server import NO_POSTGRES, PASSWORD, PostgresServer, start_postgres_server
from runtime.protocol import MAX_BATCH_WORKFLOWS

#: The consumers read the database URL (no password) from here, the password from ``PGPASSWORD``.
DSN_ENV = "RUNTIME_BENCH_PGQUEUER_DSN"
ENTRYPOINT = "noop"
#: The line a consumer prints once its listener answers.
READY = "ready"
#: Longest a phase may take before it is reported as stuck rather than measured.
PHASE_TIMEOUT_S = 600.0
POLL_S = 0.05


def available() -> str | None:
    """None when the yardstick can run, otherwise why not (one line for the bench output)."""
    try:
        import pgqueuer  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install pgqueuer, or the bench extra)"
    return None


async def _consume(dsn: str, batch: int) -> None:
    """One consumer process: pgqueuer's QueueManager running a no-op entrypoint until it is killed.

    It prints `READY` once a NOTIFY round trip through its own listener succeeded (pgqueuer's
    ``listener_healthy``), so the parent starts the clock only when every consumer can be woken.
    """
    from pgqueuer import Job, Queries, QueueManager  # type: ignore[import-not-found, unused-ignore]
    from pgqueuer.errors import FailingListenerError  # type: ignore[import-not-found, unused-ignore]

    connection = await asyncpg.connect(dsn)
    manager = QueueManager(Queries.from_asyncpg_connection(connection))

    @manager.entrypoint(ENTRYPOINT)  # type: ignore[untyped-decorator, unused-ignore]
    async def noop(job: Job) -> None:
        return None

    # No periodic folding of the log into statistics: the benchmark reads the log itself.
    running = asyncio.create_task(manager.run(batch_size=batch, log_aggregation_interval=timedelta(0)))
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while True:
        try:
            await manager.listener_healthy(timedelta(seconds=1))
            break
        except FailingListenerError:
            if running.done() or time.monotonic() > deadline:
                raise
    print(READY, flush=True)
    await running


async def _install(dsn: str) -> None:
    from pgqueuer import Queries  # type: ignore[import-not-found, unused-ignore]

    connection = await asyncpg.connect(dsn)
    try:
        await Queries.from_asyncpg_connection(connection).install()
    finally:
        await connection.close()


async def _enqueue(connection: asyncpg.Connection, tasks: int) -> None:
    from pgqueuer import Queries  # type: ignore[import-not-found, unused-ignore]

    queries = Queries.from_asyncpg_connection(connection)
    for start in range(0, tasks, MAX_BATCH_WORKFLOWS):
        chunk = min(MAX_BATCH_WORKFLOWS, tasks - start)
        await queries.enqueue([ENTRYPOINT] * chunk, [None] * chunk, [0] * chunk)


async def _wait_for(connection: asyncpg.Connection, sql: str, at_least: int, what: str,
                    procs: list[subprocess.Popen[bytes]]) -> asyncpg.Record:
    deadline = time.monotonic() + PHASE_TIMEOUT_S
    while True:
        row: asyncpg.Record = await connection.fetchrow(sql)
        if row[0] >= at_least:
            return row
        dead = [p for p in procs if p.poll() is not None]
        if dead:
            raise SystemExit(f"a pgqueuer consumer exited (code {dead[0].returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {PHASE_TIMEOUT_S:.0f} s waiting for {what}")
        await asyncio.sleep(POLL_S)


async def _measure(server: PostgresServer, database: str, tasks: int, procs: list[subprocess.Popen[bytes]]) -> float:
    connection = await asyncpg.connect(server.url(database))
    try:
        started_wall, started = time.time(), time.perf_counter()
        await _enqueue(connection, tasks)
        done = ("SELECT count(*), extract(epoch FROM max(created))::float8 FROM pgqueuer_log "
                "WHERE status = 'successful'")
        row = await _wait_for(connection, done, tasks, f"{tasks} pgqueuer completions", procs)
        # pgqueuer's own log stamp of the last completion, not when this loop noticed.
        return min(float(row[1]) - started_wall, time.perf_counter() - started)
    finally:
        await connection.close()


def _wait_ready(procs: list[subprocess.Popen[bytes]]) -> None:
    """Every consumer's `READY` line; a consumer that gives up (it bounds its own wait) ends its output."""
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode(errors="replace").strip()
        if line != READY:
            raise SystemExit(f"a pgqueuer consumer did not get ready (exit code {proc.wait(60)})")


def run(server: PostgresServer, tasks: int, workers: int, batch: int) -> tuple[int, float]:
    """(jobs completed, seconds from the first enqueue to the last completion) on a fresh database of `server`."""
    database = server.create_database(migrated=False)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        asyncio.run(_install(server.url(database)))
        env = {**os.environ, DSN_ENV: server.url(database, password=False), "PGPASSWORD": PASSWORD,
               "PYTHONPATH": str(Path(__file__).parents[1])}
        procs = [subprocess.Popen([sys.executable, "-m", "runtime.bench_pgqueuer", "consume", "--batch", str(batch)],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                 for _ in range(workers)]
        _wait_ready(procs)
        seconds = asyncio.run(_measure(server, database, tasks, procs))
        count = server.sql("SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'", database=database)
        return int(count), seconds
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(60)
        server.drop_databases([database])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.bench_pgqueuer", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    consume = sub.add_parser("consume", help=f"one consumer process (reads ${DSN_ENV} and $PGPASSWORD)")
    consume.add_argument("--batch", type=int, required=True)
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=8, help="consumer processes")
    parser.add_argument("--batch", type=int, default=64, help="jobs per dequeue (our workers' --tasks-per-poll)")
    args: Any = parser.parse_args(argv)
    if args.command == "consume":
        asyncio.run(_consume(os.environ[DSN_ENV], args.batch))
        return 0
    missing = available()
    if missing:
        print(f"pgqueuer yardstick skipped: {missing}")
        return 0
    server = start_postgres_server()
    if server is None:
        print(f"pgqueuer yardstick skipped: {NO_POSTGRES}")
        return 0
    try:
        done, seconds = run(server, args.tasks, args.workers, args.batch)
    finally:
        server.stop()
    print(f"pgqueuer: {done} no-op jobs, {args.workers} consumer processes, batch {args.batch}: "
          f"{seconds:.2f} s = {done / seconds:.0f} jobs/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
