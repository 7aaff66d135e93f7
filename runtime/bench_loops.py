"""The orchestrator's ceiling: bench-only worker loops for `runtime.bench` (issue 3 "Performance").

No handlers, no task slots: each loop process registers, leases up to ``batch`` tasks per poll and
reports them, ``batch`` flow: ``/tasks/reports`` with every ``started`` then with every
``completed`` plus the next lease; ``single`` flow: one ``started`` and one ``completed`` request
per task. What they measure is the orchestrator's own cost per task, which is why
`runtime.bench` also uses them for the poll latencies and the cost per task with many queued.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import random
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from runtime.bench_orchestrator import ADMIN_TOKEN
from runtime.protocol import WorkflowRequest
from runtime.store.changes import ChangeLog
from runtime.store.database import Database
from runtime.store.locations import PostgresLocation
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


def prefill(location: Path | PostgresLocation, count: int) -> None:
    """`count` queued no-op workflows written straight into the store (before any orchestrator runs on it)."""
    async def fill() -> None:
        database = Database.at(location)
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


def run_workers(
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


def wake_up_latencies(url: str, samples: int) -> list[float]:
    """Idle queue, one worker parked in a long poll: seconds from submitting a workflow to holding its task."""
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
