"""Bulk submission throughput of the reference orchestrator (issue 12 "Performance").

Prints figures; asserts nothing. ``python -m runtime.bench_submit [--tasks N] [--batch N]
[--concurrency N] [--trace]`` starts ``python -m runtime orchestrator`` on a fresh SQLite file
and submits N no-op workflows through `runtime.Client.submit_many` (``POST
/api/v1/workflows:batch``, ``--batch`` workflows per request, ``--concurrency`` requests in
flight), then the same count one request each (``POST /api/v1/workflows``, ``--single`` of them)
for comparison. The clock runs from the first request to the last answer: every answered
workflow is committed. No workers run, so the figure is the submission path alone.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from runtime.bench_orchestrator import ADMIN_TOKEN, start_orchestrator, stop
from runtime.client import Client
from runtime.protocol import MAX_BATCH_WORKFLOWS, WorkflowRequest


async def _timed(count: int, concurrency: int, submit: Callable[[int], Awaitable[int]]) -> float:
    """Seconds to run ``submit(i)`` for every chunk index with `concurrency` in flight; checks the counts."""
    queue = list(range(count))
    done = 0

    async def lane() -> None:
        nonlocal done
        while queue:
            done += await submit(queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return elapsed if done else float("nan")


async def measure(url: str, tasks: int, batch: int, concurrency: int, single: int) -> dict[str, float]:
    async with Client(url, ADMIN_TOKEN, timeout_s=120) as client:
        requests = [WorkflowRequest(type="noop", payload={"n": i}) for i in range(batch)]
        await client.submit_many(requests[:1])  # warm up: connection, first transaction

        async def bulk(_: int) -> int:
            return len(await client.submit_many(requests))

        chunks = max(1, tasks // batch)
        bulk_s = await _timed(chunks, concurrency, bulk)

        async def one(_: int) -> int:
            await client.submit(requests[0])
            return 1

        single_s = await _timed(single, concurrency, one)
    return {"bulk_tasks_per_s": chunks * batch / bulk_s, "single_tasks_per_s": single / single_s,
            "bulk_tasks": chunks * batch}


def run(tasks: int, batch: int, concurrency: int, single: int, trace: bool = False) -> dict[str, float]:
    """`measure` against a fresh orchestrator on a fresh SQLite file."""
    with tempfile.TemporaryDirectory(prefix="bench-submit-") as scratch:
        proc, url = start_orchestrator(Path(scratch) / "bench.db", trace)
        try:
            return asyncio.run(measure(url, tasks, batch, concurrency, single))
        finally:
            stop(proc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.bench_submit", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=50_000, help="workflows submitted in bulk")
    parser.add_argument("--batch", type=int, default=MAX_BATCH_WORKFLOWS, help="workflows per batch request")
    parser.add_argument("--concurrency", type=int, default=2, help="requests in flight")
    parser.add_argument("--single", type=int, default=2_000, help="workflows submitted one request each")
    parser.add_argument("--trace", action="store_true", help="the orchestrator also writes its trace file")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= MAX_BATCH_WORKFLOWS:
        parser.error(f"--batch must be between 1 and {MAX_BATCH_WORKFLOWS} (runtime.protocol.MAX_BATCH_WORKFLOWS)")
    figures = run(args.tasks, args.batch, args.concurrency, args.single, args.trace)
    print(f"bulk submission: {figures['bulk_tasks']:.0f} tasks in batches of {args.batch}, "
          f"{args.concurrency} in flight: {figures['bulk_tasks_per_s']:,.0f} tasks/s")
    print(f"single submission: {args.single} requests, {args.concurrency} in flight: "
          f"{figures['single_tasks_per_s']:,.0f} tasks/s")
    print(f"ratio bulk/single: {figures['bulk_tasks_per_s'] / figures['single_tasks_per_s']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
