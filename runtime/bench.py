"""Throughput and latency figures for the reference orchestrator (issue 3 "Performance").

Prints figures; asserts nothing. ``python -m runtime.bench [--tasks N] [--workers N] [--flow batch|single]``:

* the product's own workers: N ``python -m runtime worker`` processes (`runtime.bench_workers`),
  ``--tasks`` no-op tasks submitted in bulk, clock to the last completion;
* the orchestrator's ceiling: the same tasks through bench-only worker loops (no handlers, no
  task slots), one orchestrator process, N worker processes, each
  holding up to ``--batch`` tasks. ``batch`` (default): poll (``max`` = batch) →
  ``/tasks/reports`` with every ``started`` → ``/tasks/reports`` with every ``completed`` plus
  the next lease; ``single``: one ``started`` and one ``completed`` request per task. Every task
  goes assign → start → complete either way; the clock stops at the last completion;
* poll-to-assignment latency (p50/p99) of the leases in that run (at saturation: they queue
  behind each other), and of the polls of a paced run offering ``--latency-rate`` tasks/s;
* submit-to-assignment latency with an idle queue and a worker parked in a long poll;
* cost per task with 1,000 versus ``--scale-max`` tasks already queued;
* the same workload through Celery + Redis (`runtime.bench_celery`) and both ratios, unless
  ``--no-celery`` or Celery/Redis are missing (then it says so and skips).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import random
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from runtime import bench_workers
from runtime.bench_orchestrator import ADMIN_TOKEN, start_orchestrator, stop
from runtime.protocol import WorkflowRequest
from runtime.store.changes import ChangeLog
from runtime.store.database import Database
from runtime.store.queue import submit_workflow
from spec.policies import DEFAULT_POLICIES

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _worker(url: str, index: int, batch: int, results: mp.Queue[Any], limit: int, flow: str,
            rate: float | None = None) -> None:
    try:
        _work(url, index, batch, results, limit, flow, rate)
    except BaseException as exc:
        results.put((0, [], time.perf_counter()))
        print(f"bench worker {index} failed: {exc!r}", file=sys.stderr, flush=True)


def _work(url: str, index: int, batch: int, results: mp.Queue[Any], limit: int, flow: str,
          rate: float | None) -> None:
    """One worker's loop. With `rate` (tasks/s) it paces itself and always leases with a plain poll,
    so that every latency sample is a poll's round trip at a load the orchestrator keeps up with."""
    worker_id = f"bench-{index}"
    latencies: list[float] = []
    done = 0
    empty = 0
    #: When this worker's last task completed: the idle polls that end its loop are not throughput.
    finished = time.perf_counter()
    # TCP_NODELAY: h11 writes headers and body separately; with Nagle plus delayed ACKs each
    # request would wait ~40 ms.
    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    with httpx.Client(base_url=url, headers=AUTH, timeout=60, transport=transport) as client:
        client.post("/api/v1/workers/register",
                    json={"workerId": worker_id, "capabilities": ["bench"], "maxConcurrency": batch}).raise_for_status()
        tasks: list[dict[str, Any]] = []
        if rate is not None:  # paced workers start out of phase, as independent workers would
            time.sleep(random.uniform(0, batch / rate))
        while empty < 3 and done < limit:
            cycle = time.perf_counter()
            if not tasks:
                t0 = time.perf_counter()
                response = client.get("/api/v1/tasks/poll", params={"workerId": worker_id, "max": batch, "wait": 0.2})
                if response.status_code == 204:
                    empty += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                empty = 0
                tasks = response.json()["tasks"]
            leases = [{"taskId": t["taskId"], "workerId": worker_id, "fencingToken": t["fencingToken"]} for t in tasks]
            if flow == "single":
                for lease in leases:
                    client.post("/api/v1/tasks/started", json=lease).raise_for_status()
                    client.post("/api/v1/tasks/completed", json=lease).raise_for_status()
                tasks = []
            else:
                _batch(client, [{**lease, "kind": "started"} for lease in leases])
                t0 = time.perf_counter()
                lease_next = batch if done + len(leases) < limit and rate is None else 0
                answer = _batch(client, [{**lease, "kind": "completed"} for lease in leases],
                                workerId=worker_id, leaseMax=lease_next)
                tasks = answer["tasks"]
                if tasks:
                    latencies.append(time.perf_counter() - t0)
            done += len(leases)
            finished = time.perf_counter()
            if rate is not None:
                # Exponential gaps (a Poisson stream of polls per worker), not a metronome.
                time.sleep(max(0.0, cycle + random.expovariate(rate / len(leases)) - finished))
    results.put((done, latencies, finished))


def _batch(client: httpx.Client, reports: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    response = client.post("/api/v1/tasks/reports", json={"reports": reports, **extra})
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    refused = [o for o in answer["outcomes"] if o["code"] != 200]
    if refused:
        raise RuntimeError(f"refused reports: {refused}")
    return answer


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


def _run_workers(
    url: str, workers: int, batch: int, limit: int, flow: str, rate: float | None = None
) -> tuple[int, float, list[float]]:
    """(tasks done, seconds from start to the last completion, poll-to-assignment latencies)."""
    results: mp.Queue[Any] = mp.Queue()
    start = time.perf_counter()
    per_worker = None if rate is None else rate / workers
    procs = [mp.Process(target=_worker, args=(url, i, batch, results, limit, flow, per_worker))
             for i in range(workers)]
    for p in procs:
        p.start()
    outcomes = [results.get() for _ in procs]
    for p in procs:
        p.join()
    done = sum(o[0] for o in outcomes)
    end = max(o[2] for o in outcomes)
    latencies = [lat for o in outcomes for lat in o[1]]
    return done, end - start, latencies


def _wake_up_latencies(url: str, samples: int) -> list[float]:
    """Idle queue, one worker parked in a long poll: seconds from submitting a workflow to holding its task."""
    import threading

    transport = httpx.HTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    latencies: list[float] = []
    with httpx.Client(base_url=url, headers=AUTH, timeout=60, transport=transport) as worker, \
            httpx.Client(base_url=url, headers=AUTH, timeout=60) as submitter:
        worker.post("/api/v1/workers/register",
                    json={"workerId": "wake", "capabilities": ["bench"], "maxConcurrency": 1}).raise_for_status()
        got: list[dict[str, Any]] = []
        for _ in range(samples):
            got.clear()
            parked = threading.Thread(target=lambda: got.append(
                worker.get("/api/v1/tasks/poll", params={"workerId": "wake", "wait": 30}).json()))
            parked.start()
            time.sleep(0.05)  # let the poll park
            t0 = time.perf_counter()
            submitter.post("/api/v1/workflows", json={"type": "noop"}).raise_for_status()
            parked.join()
            latencies.append(time.perf_counter() - t0)
            task = got[0]["tasks"][0]
            lease = {"taskId": task["taskId"], "workerId": "wake", "fencingToken": task["fencingToken"]}
            worker.post("/api/v1/tasks/reports", json={"reports": [{**lease, "kind": "started"},
                                                                   {**lease, "kind": "completed"}]})
    return latencies


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) >= 2 else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64, help="tasks leased per poll (the worker's maxConcurrency)")
    parser.add_argument("--flow", choices=("batch", "single"), default="batch",
                        help="batch: /tasks/reports (started x N, then completed x N + next lease); "
                             "single: one started and one completed request per task")
    parser.add_argument("--latency-rate", type=float, default=1000.0,
                        help="tasks/s the paced latency run offers (half the 2,000 tasks/s target)")
    parser.add_argument("--latency-batch", type=int, default=8, help="tasks a paced worker leases per poll")
    parser.add_argument("--latency-tasks", type=int, default=5000)
    parser.add_argument("--scale-max", type=int, default=100_000)
    parser.add_argument("--wake-samples", type=int, default=100)
    parser.add_argument("--scale-sample", type=int, default=500)
    parser.add_argument("--celery", action=argparse.BooleanOptionalAction, default=True,
                        help="also run the Celery + Redis yardstick (runtime.bench_celery) and print the ratio")
    parser.add_argument("--trace", action="store_true", help="orchestrators write a trace (its cost included)")
    parser.add_argument("--tasks-per-poll", type=int, default=64,
                        help="the real workers' --tasks-per-poll (runtime.bench_workers)")
    args = parser.parse_args(argv)

    real_done, real_s = bench_workers.run(args.tasks, args.workers, args.tasks_per_poll)
    real_rate = real_done / real_s
    print(f"product workers: {real_done} no-op tasks, {args.workers} x python -m runtime worker "
          f"--tasks-per-poll {args.tasks_per_poll}: {real_s:.2f} s = {real_rate:.0f} tasks/s")

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        _prefill(db, args.tasks)
        proc, url = start_orchestrator(db, args.trace)
        try:
            done, seconds, latencies = _run_workers(url, args.workers, args.batch, args.tasks, args.flow)
        finally:
            stop(proc)
    sys.stdout.flush()
    throughput = done / seconds
    print(f"orchestrator ceiling, bench-only loops ({args.flow} flow): {done} no-op tasks, "
          f"{args.workers} worker processes, batch {args.batch}: "
          f"{seconds:.2f} s = {throughput:.0f} tasks/s")
    print(f"  poll-to-assignment at saturation (requests queue behind each other): p50 {_pct(latencies, 50):.1f} ms, "
          f"p99 {_pct(latencies, 99):.1f} ms ({len(latencies)} leases)")

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        _prefill(db, args.latency_tasks)
        proc, url = start_orchestrator(db, args.trace)
        try:
            done, seconds, paced = _run_workers(url, args.workers, args.latency_batch, args.latency_tasks, "batch",
                                                rate=args.latency_rate)
        finally:
            stop(proc)
    print(f"poll-to-assignment, {args.workers} workers offering {args.latency_rate:.0f} tasks/s "
          f"(achieved {done / seconds:.0f}), batch {args.latency_batch}: p50 {_pct(paced, 50):.1f} ms, "
          f"p99 {_pct(paced, 99):.1f} ms ({len(paced)} polls with tasks)")

    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        _prefill(db, 0)
        proc, url = start_orchestrator(db, args.trace)
        try:
            wake = _wake_up_latencies(url, args.wake_samples)
        finally:
            stop(proc)
    print(f"submit-to-assignment, idle queue, worker in a long poll: p50 {_pct(wake, 50):.1f} ms, "
          f"p99 {_pct(wake, 99):.1f} ms ({len(wake)} samples, submission request included)")

    costs: dict[int, float] = {}
    for queued in (1000, args.scale_max):
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "bench.db"
            _prefill(db, queued)
            proc, url = start_orchestrator(db, args.trace)
            try:
                done, seconds, _ = _run_workers(url, 1, args.batch, args.scale_sample, args.flow)
            finally:
                stop(proc)
        costs[queued] = seconds / done * 1000
        print(f"{queued} queued: {done} tasks through one worker, {costs[queued]:.2f} ms per task")
    print(f"cost growth {args.scale_max} vs 1000 queued: {costs[args.scale_max] / costs[1000]:.2f}x")
    if args.celery:
        from runtime import bench_celery

        missing = bench_celery.available()
        if missing:
            print(f"celery yardstick skipped: {missing}")
            return 0
        celery_done, celery_s = bench_celery.run(args.tasks, args.workers)
        celery_rate = celery_done / celery_s
        print(f"celery + redis: {celery_done} no-op tasks, prefork concurrency {args.workers}: "
              f"{celery_s:.2f} s = {celery_rate:.0f} tasks/s")
        print(f"ratio product workers / celery: {real_rate / celery_rate:.2f}")
        print(f"ratio orchestrator ceiling / celery: {throughput / celery_rate:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
