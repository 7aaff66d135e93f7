"""The Dramatiq + Redis yardstick for `runtime.bench` (issue 12 "Performance"), beside Celery's.

The same no-op workload as `runtime.bench_workers` on SQLite, through Dramatiq: a local
``redis-server`` (`runtime.bench_redis`) as broker and ``dramatiq runtime.bench_dramatiq:broker
--processes N --threads T`` (Dramatiq's own worker command; ``--threads`` defaults to `THREADS`,
Dramatiq's own default) with its default middleware (retries, time and age limits). The clock starts once
every worker process has booted (a middleware counts the boots in Redis) and covers sending
every message, as ours covers submission, up to the last completion: the no-op actor records its
completion in Redis (a counter and the wall-clock time, one pipelined round trip, as Celery
stores its result), and the clock stops at the latest recorded time.

Prints figures; asserts nothing. Needs ``pip install 'dramatiq[redis]'`` (the ``bench`` extra)
and ``redis-server``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from runtime import bench_redis

QUEUE = "runtime-bench"
BROKER_ENV = "RUNTIME_BENCH_DRAMATIQ_BROKER"
BOOTED_KEY = "runtime-bench:booted"
DONE_KEY = "runtime-bench:done"
LAST_KEY = "runtime-bench:last"
#: Worker threads per process: Dramatiq's own default (``dramatiq --threads``).
THREADS = 8
#: Longest a phase may take before it is reported as stuck rather than measured.
PHASE_TIMEOUT_S = 600.0


def available() -> str | None:
    """None when the yardstick can run, otherwise why not (one line for the bench output)."""
    try:
        import dramatiq  # type: ignore[import-not-found, unused-ignore]  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install 'dramatiq[redis]', or the bench extra)"
    return bench_redis.missing()


def _make_broker(url: str) -> tuple[Any, Any]:
    """The Redis broker with the no-op actor declared on it, and the actor."""
    import dramatiq  # type: ignore[import-not-found, unused-ignore]
    import redis  # type: ignore[import-not-found, unused-ignore]
    from dramatiq.brokers.redis import RedisBroker  # type: ignore[import-not-found, unused-ignore]
    from dramatiq.middleware import Middleware  # type: ignore[import-not-found, unused-ignore]

    counter = redis.Redis.from_url(url)

    class _CountBoots(Middleware):  # type: ignore[misc, unused-ignore]
        """Counts booted worker processes, so the clock starts when all of them consume."""

        def after_worker_boot(self, broker: Any, worker: Any) -> None:
            counter.incr(BOOTED_KEY)

    broker = RedisBroker(url=url)  # type: ignore[no-untyped-call, unused-ignore]
    broker.add_middleware(_CountBoots())
    dramatiq.set_broker(broker)

    @dramatiq.actor(queue_name=QUEUE, broker=broker, max_retries=0)  # type: ignore[untyped-decorator, unused-ignore]
    def noop() -> None:
        pipe = counter.pipeline()
        pipe.incr(DONE_KEY)
        pipe.set(LAST_KEY, repr(time.time()))
        pipe.execute()

    return broker, noop


#: What ``dramatiq runtime.bench_dramatiq:broker`` loads (only when the benchmark set the URL).
broker = _make_broker(os.environ[BROKER_ENV])[0] if BROKER_ENV in os.environ else None


def run(tasks: int, workers: int, threads: int = THREADS) -> tuple[int, float]:
    """Run `tasks` no-op messages through `workers` Dramatiq processes of `threads` threads; (done, seconds)."""
    import redis  # type: ignore[import-not-found, unused-ignore]

    with bench_redis.redis_server() as url:
        worker: subprocess.Popen[bytes] | None = None
        try:
            client = redis.Redis.from_url(url)
            _, noop = _make_broker(url)
            env = {**os.environ, BROKER_ENV: url, "PYTHONPATH": str(Path(__file__).parents[1])}
            worker = subprocess.Popen(
                [sys.executable, "-m", "dramatiq", "runtime.bench_dramatiq:broker", "--processes", str(workers),
                 "--threads", str(threads), "--queues", QUEUE, "--skip-logging"],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            bench_redis.wait_for(lambda: int(client.get(BOOTED_KEY) or 0) >= workers or worker.poll() is not None,
                                 120, f"{workers} dramatiq worker processes")
            if worker.poll() is not None:
                raise RuntimeError(f"the dramatiq workers exited (code {worker.returncode}) before booting")
            started_wall, started = time.time(), time.perf_counter()
            for _ in range(tasks):
                noop.send()
            bench_redis.wait_for(lambda: int(client.get(DONE_KEY) or 0) >= tasks, PHASE_TIMEOUT_S,
                                 "the dramatiq completions")
            last = float(client.get(LAST_KEY) or "nan")
            # The last completion's own stamp, not when this loop noticed.
            return int(client.get(DONE_KEY) or 0), min(last - started_wall, time.perf_counter() - started)
        finally:
            if worker is not None:
                worker.terminate()
                worker.wait(60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.bench_dramatiq", description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=8, help="dramatiq worker processes")
    parser.add_argument("--threads", type=int, default=THREADS, help="threads per process (dramatiq's default)")
    args = parser.parse_args(argv)
    missing = available()
    if missing:
        print(f"dramatiq yardstick skipped: {missing}")
        return 0
    done, seconds = run(args.tasks, args.workers, args.threads)
    print(f"dramatiq + redis: {done} no-op tasks, {args.workers} processes x {args.threads} threads: "
          f"{seconds:.2f} s = {done / seconds:.0f} tasks/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
