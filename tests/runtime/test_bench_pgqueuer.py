"""`runtime.bench_pgqueuer`, the PostgreSQL yardstick (issue 16), runs pgqueuer end to end.

No timing is asserted; the benchmark must count every job it enqueued as done by real pgqueuer
consumer processes on the test session's PostgreSQL server. Skipped only without pgqueuer
(the ``bench`` extra, which CI installs) or PostgreSQL's binaries.
"""

from __future__ import annotations

import pytest

from runtime import bench_pgqueuer
from runtime.bench_postgres_server import PostgresServer


def test_every_enqueued_job_is_completed_by_the_pgqueuer_consumer_processes(postgres_server: PostgresServer) -> None:
    missing = bench_pgqueuer.available()
    if missing:
        pytest.skip(missing)
    done, seconds = bench_pgqueuer.run(postgres_server, tasks=30, workers=2, batch=4)
    assert done == 30
    assert seconds > 0


def test_a_missing_pgqueuer_is_said_and_skipped(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(bench_pgqueuer, "available", lambda: "pgqueuer is not installed (pip install pgqueuer)")
    assert bench_pgqueuer.main(["--tasks", "5"]) == 0
    assert capsys.readouterr().out == "pgqueuer yardstick skipped: pgqueuer is not installed (pip install pgqueuer)\n"
