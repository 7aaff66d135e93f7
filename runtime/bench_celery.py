"""The Celery + Redis yardstick for `runtime.bench` (issue 3 "Performance").

The same no-op workload through what users would otherwise reach for: a local
``redis-server`` (`runtime.bench_redis`) as broker and result backend, and ``celery worker --pool prefork
--concurrency N``. Tasks are published while the worker consumes nothing, then the worker is
told to consume; the clock runs from there until every task's result is stored, mirroring the
pre-filled queue of `runtime.bench`. Acknowledgement is late (after the task ran), the closest
match to a lease that is released by ``completed``.

Prints figures; asserts nothing. Needs ``pip install celery redis`` and ``redis-server``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from runtime import bench_redis

QUEUE = "runtime-bench"
BROKER_ENV = "RUNTIME_BENCH_CELERY_BROKER"


def _make_app(broker: str) -> Any:
    from celery import Celery  # type: ignore[import-untyped, import-not-found, unused-ignore]

    celery = Celery("runtime_bench", broker=broker, backend=broker)
    celery.conf.update(task_acks_late=True, worker_prefetch_multiplier=4, task_default_queue=QUEUE,
                       broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)

    @celery.task(name="runtime_bench.noop")  # type: ignore[untyped-decorator, unused-ignore]
    def noop() -> None:
        return None

    return celery


#: What ``celery -A runtime.bench_celery worker`` loads (only when celery is installed).
app = _make_app(os.environ[BROKER_ENV]) if BROKER_ENV in os.environ else None


def available() -> str | None:
    """None when the yardstick can run, otherwise why not (one line for the bench output)."""
    try:
        import celery  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install celery redis, or the bench extra)"
    return bench_redis.missing()


def run(tasks: int, workers: int) -> tuple[int, float]:
    """Run `tasks` no-op tasks through Celery with `workers` prefork processes; (done, seconds)."""
    import redis  # type: ignore[import-not-found, unused-ignore]

    with bench_redis.redis_server() as url:
        worker: subprocess.Popen[bytes] | None = None
        try:
            client = redis.Redis.from_url(url)
            env = {**os.environ, BROKER_ENV: url, "PYTHONPATH": str(Path(__file__).parents[1])}
            celery = _make_app(url)
            # Start consuming a queue nobody publishes to; switch to the real one once it is full.
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "runtime.bench_celery", "worker", "--pool", "prefork",
                 "--concurrency", str(workers), "--queues", "idle", "--loglevel", "WARNING", "--without-gossip",
                 "--without-mingle", "--without-heartbeat", "--hostname", f"bench{os.getpid()}@localhost"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            bench_redis.wait_for(lambda: bool(celery.control.ping(timeout=0.5)), 120, "the celery worker")
            noop = celery.tasks["runtime_bench.noop"]
            for _ in range(tasks):
                noop.delay()
            start = time.perf_counter()
            # limit=1: the one worker's reply ends the broadcast; without it the call waits out its whole
            # timeout for replies that never come, and that wait was inside the clock.
            celery.control.add_consumer(QUEUE, reply=True, timeout=10, limit=1)

            def _finished() -> int:
                return sum(1 for _ in client.scan_iter("celery-task-meta-*", count=1000))

            bench_redis.wait_for(lambda: _finished() >= tasks, 600, "the celery results")
            return _finished(), time.perf_counter() - start
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(60)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m runtime.bench_celery", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args(argv)
    missing = available()
    if missing:
        print(f"celery yardstick skipped: {missing}")
        return 0
    done, seconds = run(args.tasks, args.workers)
    print(f"celery + redis: {done} no-op tasks, prefork concurrency {args.workers}: "
          f"{seconds:.2f} s = {done / seconds:.0f} tasks/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
