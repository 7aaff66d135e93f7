"""Throughput and latency figures for the reference orchestrator (issue 3 "Performance").

Prints figures; asserts nothing. ``python -m runtime.bench [--tasks N] [--workers N]``:

* end-to-end no-op tasks over real HTTP: one orchestrator process, N worker processes, each
  looping poll (``max`` = its batch) → started → completed;
* poll-to-assignment latency (p50/p99) of polls that returned tasks;
* cost per task with 1,000 versus ``--scale-max`` tasks already queued (lease + report a fixed
  batch; the rest stay queued).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from runtime.protocol import WorkflowRequest
from runtime.store.changes import ChangeLog
from runtime.store.database import Database
from runtime.store.queue import submit_workflow
from spec.policies import DEFAULT_POLICIES

TOKEN = "bench-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _start_orchestrator(db: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime", "orchestrator", "--db", str(db), "--port", "0", "--token", TOKEN,
         "--log-level", "WARNING"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("orchestrator listening on "):
            return proc, line.split()[-1]
    raise SystemExit("orchestrator did not start")


def _worker(url: str, index: int, batch: int, results: mp.Queue[Any], limit: int) -> None:
    try:
        _work(url, index, batch, results, limit)
    except BaseException as exc:
        results.put((0, [], time.perf_counter()))
        print(f"bench worker {index} failed: {exc!r}", file=sys.stderr, flush=True)


def _work(url: str, index: int, batch: int, results: mp.Queue[Any], limit: int) -> None:
    worker_id = f"bench-{index}"
    latencies: list[float] = []
    done = 0
    empty = 0
    # TCP_NODELAY: h11 writes headers and body separately; with Nagle plus delayed ACKs each
    # request would wait ~40 ms.
    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    with httpx.Client(base_url=url, headers=AUTH, timeout=60, transport=transport) as client:
        client.post("/api/v1/workers/register",
                    json={"workerId": worker_id, "capabilities": ["bench"], "maxConcurrency": batch}).raise_for_status()
        while empty < 3 and done < limit:
            t0 = time.perf_counter()
            response = client.get("/api/v1/tasks/poll", params={"workerId": worker_id, "max": batch, "wait": 0.2})
            if response.status_code == 204:
                empty += 1
                continue
            latencies.append(time.perf_counter() - t0)
            empty = 0
            for task in response.json()["tasks"]:
                lease = {"taskId": task["taskId"], "workerId": worker_id, "fencingToken": task["fencingToken"]}
                client.post("/api/v1/tasks/started", json=lease).raise_for_status()
                client.post("/api/v1/tasks/completed", json=lease).raise_for_status()
                done += 1
    results.put((done, latencies, time.perf_counter()))


def _prefill(db: Path, count: int) -> None:
    async def fill() -> None:
        database = Database.for_path(db)
        await database.open()
        request = WorkflowRequest(type="noop")
        aging = DEFAULT_POLICIES.lease.aging_interval_s
        remaining = count
        while remaining:
            chunk = min(remaining, 5000)
            async with database.write() as session:
                for _ in range(chunk):
                    await submit_workflow(session, ChangeLog(), request, time.time(), aging)
            remaining -= chunk
        await database.close()

    asyncio.run(fill())


def _run_workers(url: str, workers: int, batch: int, limit: int) -> tuple[int, float, list[float]]:
    results: mp.Queue[Any] = mp.Queue()
    start = time.perf_counter()
    procs = [mp.Process(target=_worker, args=(url, i, batch, results, limit)) for i in range(workers)]
    for p in procs:
        p.start()
    outcomes = [results.get() for _ in procs]
    for p in procs:
        p.join()
    done = sum(o[0] for o in outcomes)
    end = max(o[2] for o in outcomes)
    latencies = [lat for o in outcomes for lat in o[1]]
    return done, end - start, latencies


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) >= 2 else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=8, help="tasks leased per poll")
    parser.add_argument("--scale-max", type=int, default=100_000)
    parser.add_argument("--scale-sample", type=int, default=500)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        _prefill(db, args.tasks)
        proc, url = _start_orchestrator(db)
        try:
            done, seconds, latencies = _run_workers(url, args.workers, args.batch, args.tasks)
        finally:
            proc.terminate()
            proc.wait(120)
    sys.stdout.flush()
    print(f"end to end: {done} no-op tasks, {args.workers} worker processes, batch {args.batch}: "
          f"{seconds:.2f} s = {done / seconds:.0f} tasks/s")
    print(f"poll-to-assignment: p50 {_pct(latencies, 50):.1f} ms, p99 {_pct(latencies, 99):.1f} ms "
          f"({len(latencies)} polls with tasks)")

    costs: dict[int, float] = {}
    for queued in (1000, args.scale_max):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "bench.db"
            _prefill(db, queued)
            proc, url = _start_orchestrator(db)
            try:
                done, seconds, _ = _run_workers(url, 1, args.batch, args.scale_sample)
            finally:
                proc.terminate()
                proc.wait(120)
        costs[queued] = seconds / done * 1000
        print(f"{queued} queued: {done} tasks through one worker, {costs[queued]:.2f} ms per task")
    print(f"cost growth {args.scale_max} vs 1000 queued: {costs[args.scale_max] / costs[1000]:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
