"""Property: under any generated workload and fault schedule, the real runtime obeys the spec.

Issue 6 §2. Hypothesis draws workers (capabilities), tasks (priorities, required capabilities,
length), answers of the AI provider (5xx, refused connections, 429 with and without
Retry-After) and a fault schedule (worker SIGKILL and SIGTERM, heartbeat loss, orchestrator
crash and restart); `tests.conformance.runtime_runs.execute` runs it on the real orchestrator and
workers on the scaled clock. For every run:

* every trace (orchestrator, each worker, the resilience layer) replays on the spec machines,
  timing included (backoff schedule, breaker window and open duration, Retry-After waits,
  heartbeat detection window) within ``TOLERANCE_S``;
* no accepted task is lost, none completed twice, and leases only go to capable workers.

The same property holds with the store on PostgreSQL (issue 16), on fewer examples: the
orchestrator's logic is the same, only the rows move through asyncpg and ``FOR UPDATE SKIP LOCKED``.

A failure prints the shrunk schedule, the actions taken and, per divergence, the Mermaid
sequence diagram of the diverging component.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, note, settings

from tests.conformance.runtime_runs import execute, findings, report
from tests.conformance.scaled_clock import runtime_policies
from tests.conformance.schedules import Schedule, schedules
from tests.postgres_server import PostgresServer

RUNS = settings(max_examples=6, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])


@RUNS
@given(schedule=schedules())
def test_runtime_traces_conform_and_no_task_is_lost_or_completed_twice(
    schedule: Schedule, tmp_path_factory: pytest.TempPathFactory
) -> None:
    note(schedule.describe())
    root = Path(tmp_path_factory.mktemp("run"))
    outcome = asyncio.run(execute(schedule, root, runtime_policies()))
    found = findings(schedule, outcome)
    assert not found, report(schedule, outcome, found)


@settings(RUNS, max_examples=3)
@given(schedule=schedules())
def test_on_postgresql_no_task_is_lost_or_completed_twice(
    schedule: Schedule, tmp_path_factory: pytest.TempPathFactory, postgres_server: PostgresServer
) -> None:
    note(schedule.describe())
    root = Path(tmp_path_factory.mktemp("run"))
    database = postgres_server.create_database()
    try:
        outcome = asyncio.run(execute(schedule, root, runtime_policies(), postgres_server.location(database)))
    finally:
        postgres_server.drop_databases([database])
    assert not (root / "orchestrator.db").exists(), "the run used a SQLite file, not PostgreSQL"
    found = findings(schedule, outcome)
    assert not found, report(schedule, outcome, found)
