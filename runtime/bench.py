"""Throughput and latency figures for the reference orchestrator (issues 3, 12 and 16 "Performance").

Prints figures and a summary table with the ratios; asserts nothing. ``python -m runtime.bench
[--part sqlite|postgresql|submit ...] [--tasks N] [--workers N] [--flow batch|single]``; every
part unless ``--part`` names some.

``sqlite``:

* the product's own workers: N ``python -m runtime worker`` processes (`runtime.bench_workers`),
  ``--tasks`` no-op tasks submitted in bulk, clock to the last completion;
* the orchestrator's ceiling: the same tasks through bench-only worker loops
  (`runtime.bench_loops`: no handlers, no task slots, up to ``--batch`` tasks each, ``--flow``
  batch or single); every task goes assign → start → complete; the clock stops at the last
  completion;
* poll-to-assignment latency (p50/p99) of the leases in that run (at saturation: they queue
  behind each other), and of the polls of a paced run offering ``--latency-rate`` tasks/s;
* submit-to-assignment latency with an idle queue and a worker parked in a long poll;
* cost per task with ``--scale-min`` (1,000) versus ``--scale-max`` (100,000) tasks already queued;
* the yardsticks on the same workload, with the ratios: Celery + Redis (`runtime.bench_celery`)
  and Dramatiq + Redis (`runtime.bench_dramatiq`), unless ``--no-celery``/``--no-dramatiq``.

``postgresql`` (a throwaway server, `runtime.bench_postgres_server`):

* the product's workers on PostgreSQL with one orchestrator and with two replicas on one
  database (`runtime.bench_workers.run_postgres`; the replicas share this machine's cores);
* pgqueuer on the same server and workload (`runtime.bench_pgqueuer`), unless ``--no-pgqueuer``;
* cost per task with ``--scale-min`` versus ``--scale-max`` tasks queued, the code path of the SQLite one.

``submit``: bulk submission (`runtime.bench_submit`).

A yardstick or server that is not installed is skipped with a line (and a table row) saying why.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from runtime import bench_celery, bench_dramatiq, bench_pgqueuer, bench_submit, bench_workers
from runtime.bench_loops import prefill, run_workers, wake_up_latencies
from runtime.bench_orchestrator import start_orchestrator, stop
from runtime.bench_postgres_server import NO_POSTGRES, PASSWORD, PostgresServer, start_postgres_server
from runtime.bench_report import Report
from runtime.protocol import MAX_BATCH_WORKFLOWS

PARTS = ("sqlite", "postgresql", "submit")
#: Replica counts of the PostgreSQL part.
REPLICAS = (1, 2)


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) >= 2 else float("nan")


def _loops_run(args: argparse.Namespace, queued: int, workers: int, batch: int, limit: int,
               server: PostgresServer | None = None, rate: float | None = None) -> tuple[int, float, list[float]]:
    """Bench-only loops against one orchestrator on a fresh store holding `queued` no-op tasks.

    One code path for both stores: a SQLite file, or a fresh database of `server`.
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        if server is None:
            db = Path(tmp) / "bench.db"
            prefill(db, queued)
            proc, url = start_orchestrator(db, args.trace)
            try:
                return run_workers(url, workers, batch, limit, args.flow if rate is None else "batch", rate)
            finally:
                stop(proc)
        database = server.create_database()
        try:
            prefill(server.location(database), queued)
            proc, url = start_orchestrator(server.url(database, password=False), args.trace, scratch=Path(tmp),
                                           name="bench", password=PASSWORD)
            try:
                return run_workers(url, workers, batch, limit, args.flow if rate is None else "batch", rate)
            finally:
                stop(proc)
        finally:
            server.drop_databases([database])


def _cost_growth(args: argparse.Namespace, report: Report, part: str, server: PostgresServer | None = None) -> None:
    costs: dict[int, float] = {}
    for queued in (args.scale_min, args.scale_max):
        done, seconds, _ = _loops_run(args, queued, 1, args.batch, args.scale_sample, server)
        costs[queued] = seconds / done * 1000
        print(f"{part}, {queued} queued: {done} tasks through one worker, {costs[queued]:.2f} ms per task")
        report.add(part, f"cost per task, {queued:,} queued", f"{costs[queued]:.2f} ms",
                   f"{done} tasks through one bench-only loop")
    print(f"{part} cost growth {args.scale_max} vs {args.scale_min} queued: "
          f"{costs[args.scale_max] / costs[args.scale_min]:.2f}x")
    report.ratio(part, f"cost growth, {args.scale_max:,} vs {args.scale_min:,} queued", costs[args.scale_max],
                 costs[args.scale_min], "1.00x is flat")


def _sqlite(args: argparse.Namespace, report: Report) -> None:
    part = "SQLite"
    done, seconds = bench_workers.run(args.tasks, args.workers, args.tasks_per_poll)
    print(f"product workers: {done} no-op tasks, {args.workers} x python -m runtime worker "
          f"--tasks-per-poll {args.tasks_per_poll}: {seconds:.2f} s = {done / seconds:.0f} tasks/s")
    product = report.rate(part, f"{args.workers} x python -m runtime worker --tasks-per-poll {args.tasks_per_poll}",
                          done, seconds)

    done, seconds, latencies = _loops_run(args, args.tasks, args.workers, args.batch, args.tasks)
    print(f"orchestrator ceiling, bench-only loops ({args.flow} flow): {done} no-op tasks, "
          f"{args.workers} worker processes, batch {args.batch}: {seconds:.2f} s = {done / seconds:.0f} tasks/s")
    ceiling = report.rate(part, f"orchestrator ceiling: {args.workers} bench-only loops, batch {args.batch}",
                          done, seconds)
    saturated = f"p50 {_pct(latencies, 50):.1f} ms, p99 {_pct(latencies, 99):.1f} ms"
    print(f"  poll-to-assignment at saturation (requests queue behind each other): {saturated} "
          f"({len(latencies)} leases)")
    report.add(part, "poll-to-assignment at saturation", saturated, f"{len(latencies)} leases")

    done, seconds, paced = _loops_run(args, args.latency_tasks, args.workers, args.latency_batch,
                                      args.latency_tasks, rate=args.latency_rate)
    offered = f"p50 {_pct(paced, 50):.1f} ms, p99 {_pct(paced, 99):.1f} ms"
    print(f"poll-to-assignment, {args.workers} workers offering {args.latency_rate:.0f} tasks/s "
          f"(achieved {done / seconds:.0f}), batch {args.latency_batch}: {offered} ({len(paced)} polls with tasks)")
    report.add(part, f"poll-to-assignment offering {args.latency_rate:,.0f} tasks/s", offered,
               f"achieved {done / seconds:,.0f} tasks/s, batch {args.latency_batch}")

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        db = Path(tmp) / "bench.db"
        prefill(db, 0)
        proc, url = start_orchestrator(db, args.trace)
        try:
            wake = wake_up_latencies(url, args.wake_samples)
        finally:
            stop(proc)
    woken = f"p50 {_pct(wake, 50):.1f} ms, p99 {_pct(wake, 99):.1f} ms"
    print(f"submit-to-assignment, idle queue, worker in a long poll: {woken} "
          f"({len(wake)} samples, submission request included)")
    report.add(part, "submit-to-assignment, idle queue", woken, f"{len(wake)} samples")
    _cost_growth(args, report, part)

    if args.celery:
        missing = bench_celery.available()
        if missing:
            report.skipped(part, "celery + redis", missing)
        else:
            done, seconds = bench_celery.run(args.tasks, args.workers)
            print(f"celery + redis: {done} no-op tasks, prefork concurrency {args.workers}: "
                  f"{seconds:.2f} s = {done / seconds:.0f} tasks/s")
            celery = report.rate(part, f"celery + redis, prefork {args.workers}", done, seconds)
            report.ratio(part, "product workers / celery", product, celery)
            report.ratio(part, "orchestrator ceiling / celery", ceiling, celery)
    if args.dramatiq:
        missing = bench_dramatiq.available()
        if missing:
            report.skipped(part, "dramatiq + redis", missing)
        else:
            done, seconds = bench_dramatiq.run(args.tasks, args.workers)
            shape = f"{args.workers} processes x {bench_dramatiq.THREADS} threads"
            print(f"dramatiq + redis: {done} no-op tasks, {shape}: {seconds:.2f} s = {done / seconds:.0f} tasks/s")
            dramatiq = report.rate(part, f"dramatiq + redis, {shape}", done, seconds)
            report.ratio(part, "product workers / dramatiq", product, dramatiq)


def _postgresql(args: argparse.Namespace, report: Report) -> None:
    part = "PostgreSQL"
    server = start_postgres_server()
    if server is None:
        report.skipped(part, "the PostgreSQL part", NO_POSTGRES)
        return
    try:
        rates: dict[int, float] = {}
        for replicas in REPLICAS:
            done, seconds = bench_workers.run_postgres(server, args.tasks, args.workers, args.tasks_per_poll,
                                                       replicas)
            print(f"PostgreSQL, {replicas} orchestrator replica(s): {done} no-op tasks, {args.workers} x python -m "
                  f"runtime worker --tasks-per-poll {args.tasks_per_poll}: {seconds:.2f} s = "
                  f"{done / seconds:.0f} tasks/s")
            rates[replicas] = report.rate(part, f"{args.workers} x python -m runtime worker, {replicas} "
                                                f"replica{'s' if replicas > 1 else ''}", done, seconds)
        report.ratio(part, "2 replicas / 1 replica", rates[2], rates[1], "both replicas on this machine's cores")
        if args.pgqueuer:
            missing = bench_pgqueuer.available()
            if missing:
                report.skipped(part, "pgqueuer", missing)
            else:
                done, seconds = bench_pgqueuer.run(server, args.tasks, args.workers, args.tasks_per_poll)
                print(f"pgqueuer: {done} no-op jobs, {args.workers} consumer processes, batch "
                      f"{args.tasks_per_poll}: {seconds:.2f} s = {done / seconds:.0f} jobs/s")
                pgqueuer = report.rate(part, f"pgqueuer, {args.workers} consumers, batch {args.tasks_per_poll}",
                                       done, seconds)
                report.ratio(part, "product workers, 1 replica / pgqueuer", rates[1], pgqueuer)
                report.ratio(part, "product workers, 2 replicas / pgqueuer", rates[2], pgqueuer)
        _cost_growth(args, report, part, server)
    finally:
        server.stop()


def _submit(args: argparse.Namespace, report: Report) -> None:
    figures = bench_submit.run(args.submit_tasks, MAX_BATCH_WORKFLOWS, 2, args.submit_single, args.trace)
    print(f"bulk submission: {figures['bulk_tasks']:.0f} tasks in batches of {MAX_BATCH_WORKFLOWS}, 2 in flight: "
          f"{figures['bulk_tasks_per_s']:,.0f} tasks/s; one request each: {figures['single_tasks_per_s']:,.0f} tasks/s")
    report.add("SQLite", f"bulk submission, batches of {MAX_BATCH_WORKFLOWS}", f"{figures['bulk_tasks_per_s']:,.0f} "
               "tasks/s", f"{figures['bulk_tasks']:,.0f} tasks, 2 requests in flight, no workers")
    report.add("SQLite", "submission, one request per task", f"{figures['single_tasks_per_s']:,.0f} tasks/s",
               f"{args.submit_single:,} requests, 2 in flight")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=PARTS, action="append",
                        help="run only this part (repeatable); default: every part")
    parser.add_argument("--tasks", type=int, default=4000, help="no-op tasks per throughput run")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64, help="tasks a bench-only loop leases per poll")
    parser.add_argument("--flow", choices=("batch", "single"), default="batch",
                        help="bench-only loops: batch: /tasks/reports (started x N, then completed x N + next lease); "
                             "single: one started and one completed request per task")
    parser.add_argument("--latency-rate", type=float, default=1000.0,
                        help="tasks/s the paced latency run offers (half the 2,000 tasks/s target)")
    parser.add_argument("--latency-batch", type=int, default=8, help="tasks a paced worker leases per poll")
    parser.add_argument("--latency-tasks", type=int, default=5000)
    parser.add_argument("--scale-min", type=int, default=1000, help="tasks queued for the cost-per-task baseline")
    parser.add_argument("--scale-max", type=int, default=100_000, help="tasks queued for the cost-per-task comparison")
    parser.add_argument("--wake-samples", type=int, default=100)
    parser.add_argument("--scale-sample", type=int, default=500)
    parser.add_argument("--submit-tasks", type=int, default=50_000, help="workflows the submission part sends in bulk")
    parser.add_argument("--submit-single", type=int, default=2_000, help="workflows it sends one request each")
    parser.add_argument("--celery", action=argparse.BooleanOptionalAction, default=True,
                        help="the Celery + Redis yardstick (runtime.bench_celery), sqlite part")
    parser.add_argument("--dramatiq", action=argparse.BooleanOptionalAction, default=True,
                        help="the Dramatiq + Redis yardstick (runtime.bench_dramatiq), sqlite part")
    parser.add_argument("--pgqueuer", action=argparse.BooleanOptionalAction, default=True,
                        help="the pgqueuer yardstick (runtime.bench_pgqueuer), postgresql part")
    parser.add_argument("--trace", action="store_true", help="orchestrators write a trace (its cost included)")
    parser.add_argument("--tasks-per-poll", type=int, default=64,
                        help="the real workers' --tasks-per-poll (and pgqueuer's batch size)")
    args = parser.parse_args(argv)
    parts = args.part or list(PARTS)
    report = Report()
    runs = {"sqlite": _sqlite, "postgresql": _postgresql, "submit": _submit}
    try:
        for part in PARTS:
            if part in parts:
                runs[part](args, report)
                sys.stdout.flush()
    finally:
        print()
        print(report.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main())
