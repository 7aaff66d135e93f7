"""The portable (SQLAlchemy Core) and SQLite-native queue rows behave identically.

Random workloads — workers (some handling only some task types), tasks with priorities,
requirements, types and retry overrides, leases, and batches of started/completed/failed reports
(retried or not) with current, stale and unknown leases — run once with each
implementation of `runtime.store.queue_rows.QueueRows`; the answers, the machine transitions
and every stored row must be equal (ids renamed by submission order, since they are random).
The portable rows run on SQLite and on PostgreSQL (issue 16): the same workload, the same rows.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
from pathlib import Path
from typing import Any
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from runtime.protocol import BatchedReport, RegisterRequest, ReportKind, TaskError, TaskRetryOverride, WorkflowRequest
from runtime.store.changes import ChangeLog
from runtime.store.database import Database
from runtime.store.locations import DatabaseLocation
from runtime.store.models import EVENTS, TASKS, WORKERS, WORKFLOWS
from runtime.store.queue import lease_next_tasks, submit_workflow
from runtime.store.queue_rows import CoreQueueRows, SqliteQueueRows, queue_rows
from runtime.store.registry import register_worker
from runtime.store.reports import ReportApplied, apply_reports
from spec.policies import DEFAULT_POLICIES
from tests.postgres_server import PostgresServer
from tests.runtime.store.store_helpers import by_admin

CAPABILITIES = ["python", "node", "gpu"]
TTL = DEFAULT_POLICIES.lease.lease_ttl_s

TYPES = ["t", "u"]
workers_st = st.lists(st.tuples(st.lists(st.sampled_from(CAPABILITIES), min_size=1, unique=True), st.integers(1, 4),
                                st.sampled_from([None, ["t"], ["u"], TYPES])),
                      min_size=1, max_size=3)
tasks_st = st.lists(st.tuples(st.integers(0, 10), st.lists(st.sampled_from(CAPABILITIES), max_size=1),
                              st.sampled_from(TYPES), st.sampled_from([None, 2, 3])),
                    min_size=1, max_size=8)
report_st = st.tuples(st.sampled_from(list(ReportKind)), st.integers(0, 9), st.integers(0, 2),
                      st.sampled_from(["current", "stale", "unknown"]), st.sampled_from(["network", "validation"]))
ops_st = st.lists(st.one_of(st.tuples(st.just("lease"), st.integers(0, 2), st.integers(1, 4)),
                            st.tuples(st.just("reports"), st.lists(report_st, min_size=1, max_size=5))),
                  min_size=1, max_size=10)


async def _run(location: DatabaseLocation, native: bool, workers: list[Any], tasks: list[Any],
               ops: list[Any]) -> list[Any]:
    """Run the workload; return everything observable, with ids renamed by submission order."""
    db = Database.at(location)
    await db.open()
    observed: list[Any] = []
    names: dict[str, str] = {}
    task_ids: list[str] = []
    tokens: dict[str, int] = {}
    try:
        for i, (caps, slots, types) in enumerate(workers):
            async with db.write() as s:
                request = RegisterRequest(worker_id=f"w{i}", capabilities=caps, max_concurrency=slots,
                                          task_types=types)
                await register_worker(s, ChangeLog(), by_admin(request), 0.0)
        for i, (priority, caps, task_type, attempts) in enumerate(tasks):
            retry = None if attempts is None else TaskRetryOverride(max_attempts=attempts)
            async with db.write() as s:
                workflow, (task,) = await submit_workflow(
                    s, ChangeLog(), WorkflowRequest(type=task_type, priority=priority, required_capabilities=caps,
                                                    retry=retry),
                    float(i), DEFAULT_POLICIES.lease.aging_interval_s)
            names[task.id], names[workflow.id] = f"T{i}", f"W{i}"
            task_ids.append(task.id)
        for step, op in enumerate(ops, start=1):
            changes = ChangeLog()
            now = 100.0 + step
            async with db.write() as s:
                assert isinstance(await queue_rows(s), SqliteQueueRows if native else CoreQueueRows)
                if op[0] == "lease":
                    lease = await lease_next_tasks(s, changes, f"w{op[1] % len(workers)}", op[2], now, TTL)
                    tokens.update((t.task_id, t.fencing_token) for t in lease.tasks)
                    observed.append(("lease", [(t.task_id, t.fencing_token, t.attempt) for t in lease.tasks],
                                     lease.worker_status, lease.load))
                else:
                    reports = [_report(kind, task_ids[i % len(task_ids)], f"w{w % len(workers)}", lease_kind,
                                       tokens, error_class) for kind, i, w, lease_kind, error_class in op[1]]
                    answers = await apply_reports(s, changes, reports, now, TTL)
                    observed.append(("reports", [a if isinstance(a, ReportApplied)
                                                 else (type(a.error).__name__, str(a.error)) for a in answers]))
            observed.append([(c.component, c.record, c.data) for c in changes.transitions])
            observed.append([e.model_dump(exclude={"id"}) for e in changes.events])
        async with db.read() as s:
            for table in (TASKS, WORKERS, WORKFLOWS, EVENTS):
                rows = (await s.execute(select(table))).all()
                observed.append(sorted(_rename(tuple(r), names) for r in rows))
    finally:
        await db.close()
    return _rename(observed, names)


def _report(kind: ReportKind, task_id: str, worker_id: str, lease: str, tokens: dict[str, int],
            error_class: str) -> BatchedReport:
    token = tokens.get(task_id, 0) - (1 if lease == "stale" else 0)
    error = TaskError(code="TIMEOUT" if kind is ReportKind.FAILED and token % 2 else "TASK_ERROR",
                      error_class=error_class)
    return BatchedReport(kind=kind, task_id=task_id if lease != "unknown" else "t-nope", worker_id=worker_id,
                         fencing_token=max(token, 0), result={"n": token}, error=error)


def _rename(value: Any, names: dict[str, str]) -> Any:
    text = repr(value)
    return re.sub(r"(?:t|wf)-[0-9a-f]{32}", lambda m: names.get(m.group(0), m.group(0)), text)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workers=workers_st, tasks=tasks_st, ops=ops_st)
def test_core_and_sqlite_rows_agree(workers: list[Any], tasks: list[Any], ops: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        native = asyncio.run(_run(Path(tmp) / "native.db", True, workers, tasks, ops))
        with mock.patch("runtime.store.queue_rows.inline_sqlite", new=mock.AsyncMock(return_value=None)):
            core = asyncio.run(_run(Path(tmp) / "core.db", False, workers, tasks, ops))
    assert native == core


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(workers=workers_st, tasks=tasks_st, ops=ops_st)
def test_core_rows_on_postgresql_agree_with_sqlite(postgres_server: PostgresServer, workers: list[Any],
                                                  tasks: list[Any], ops: list[Any]) -> None:
    """``FOR UPDATE SKIP LOCKED`` leasing and the batched reports, on a real PostgreSQL server."""
    database = postgres_server.create_database()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            native = asyncio.run(_run(Path(tmp) / "native.db", True, workers, tasks, ops))
        on_postgres = asyncio.run(_run(postgres_server.location(database), False, workers, tasks, ops))
    finally:
        postgres_server.drop_databases([database])
    assert native == on_postgres
