"""Task retries and routing by task type on the real store (issue 12), on SQLite and on PostgreSQL.

A retried failure goes back to ``queued`` with a not-before time, under a new fencing token;
leasing skips it until then and hands it out as the next attempt. Workers are leased only the
task types they advertised; a task whose type no live worker handles waits, and says so.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import URL, Connection, inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from runtime.errors import ConflictError
from runtime.protocol import (
    BatchedReport,
    LeaseReport,
    RegisterRequest,
    ReportKind,
    TaskAssignment,
    TaskError,
    TaskRetryOverride,
    WorkflowRequest,
)
from runtime.store.database import MIGRATIONS, Database
from runtime.store.event_log import events_since
from runtime.store.locations import DatabaseLocation
from runtime.store.models import WorkerRow, WorkflowRow
from runtime.store.queue import get_task, lease_next_tasks, submit_workflow
from runtime.store.queue_rows import sqlite_lease_sql
from runtime.store.registry import deregister_worker, live_routing, register_worker, unroutable_queued
from runtime.store.reports import apply_report
from spec.decisions.backoff import BackoffSchedule
from spec.decisions.task_retry import TaskRetryRules, retry_draw
from spec.policies import DEFAULT_POLICIES, BackoffPolicy, Policies, TaskRetryPolicy
from tests.runtime.store.store_helpers import by_admin, transact
from tests.store_backends import StoreBackend

AGING = DEFAULT_POLICIES.lease.aging_interval_s
TTL = DEFAULT_POLICIES.lease.lease_ttl_s
#: Jitter on, so the wait is the task's own draw within BackoffPolicy's bounds.
BACKOFF = BackoffPolicy(base_delay_s=2.0, factor=2.0, max_delay_s=30.0, jitter=0.25)
RULES = TaskRetryRules.from_policies(Policies(backoff=BACKOFF))

pytestmark = pytest.mark.anyio


async def add_worker(db: Database, worker_id: str, types: list[str] | None = None, now: float = 0.0) -> None:
    async def work(session, changes):  # type: ignore[no-untyped-def]
        request = RegisterRequest(worker_id=worker_id, capabilities=["python"], max_concurrency=4, task_types=types)
        await register_worker(session, changes, by_admin(request), now)

    await transact(db, work)


async def add_task(db: Database, task_type: str = "noop", now: float = 0.0, attempts: int | None = None,
                   retry_on: list[str] | None = None) -> str:
    retry = None if attempts is None and retry_on is None else TaskRetryOverride.model_validate(
        {"maxAttempts": attempts, "retryOn": retry_on})

    async def work(session, changes):  # type: ignore[no-untyped-def]
        _, tasks = await submit_workflow(session, changes, WorkflowRequest(type=task_type, retry=retry), now, AGING)
        return tasks[0].id

    task_id, _ = await transact(db, work)
    return task_id


async def lease(db: Database, worker_id: str, now: float, n: int = 4) -> list[TaskAssignment]:
    async def work(session, changes):  # type: ignore[no-untyped-def]
        return (await lease_next_tasks(session, changes, worker_id, n, now, TTL)).tasks

    tasks, _ = await transact(db, work)
    return tasks


async def report(db: Database, kind: ReportKind, assignment: TaskAssignment, worker_id: str, now: float,
                 error_class: str = "network") -> str:
    lease_report = LeaseReport(task_id=assignment.task_id, worker_id=worker_id,
                               fencing_token=assignment.fencing_token)
    body = BatchedReport.model_validate({"kind": kind, **lease_report.model_dump(),
                                         "error": TaskError(code="TASK_ERROR", error_class=error_class)})
    applied, _ = await transact(db, lambda s, c: apply_report(s, c, body, now, TTL, RULES))
    return applied.status


async def run_and_fail(db: Database, assignment: TaskAssignment, worker_id: str, now: float,
                       error_class: str = "network") -> str:
    await report(db, ReportKind.STARTED, assignment, worker_id, now)
    return await report(db, ReportKind.FAILED, assignment, worker_id, now, error_class)


async def test_a_retried_failure_waits_its_backoff_then_runs_as_the_next_attempt_under_a_new_token(
    store_backend: StoreBackend,
) -> None:
    db = await store_backend.open_fresh()
    await add_worker(db, "w")
    task_id = await add_task(db, attempts=3)
    (first,) = await lease(db, "w", now=1.0)
    assert first.attempt == 1
    assert await run_and_fail(db, first, "w", now=2.0) == "queued"

    delay = BackoffSchedule(BACKOFF).delay_s(1, retry_draw(task_id, 1))
    low, high = BackoffSchedule(BACKOFF).delay_range_s(1)
    assert low <= delay <= high and delay > 0
    async with db.read() as session:
        task = await get_task(session, task_id)
        worker = await session.get(WorkerRow, "w")
        events = await events_since(session, task.workflow_id, 0, 100)
    assert (task.status, task.lease_worker, task.not_before) == ("queued", None, pytest.approx(2.0 + delay))
    assert task.fencing_token > first.fencing_token
    assert worker is not None and worker.running == 0
    requeued = [e for e in events if e.type.value == "TASK_REQUEUED"]
    assert len(requeued) == 1 and requeued[0].payload["attempt"] == 1
    assert requeued[0].payload["notBefore"] == pytest.approx(2.0 + delay)
    assert requeued[0].payload["error"]["errorClass"] == "network"

    assert await lease(db, "w", now=2.0 + delay - 0.001) == []  # not before its time
    (second,) = await lease(db, "w", now=2.0 + delay)
    assert (second.task_id, second.attempt) == (task_id, 2)
    assert second.fencing_token > task.fencing_token

    # The first attempt's late reports are refused: its token is fenced.
    with pytest.raises(ConflictError, match="stale lease"):
        await report(db, ReportKind.COMPLETED, first, "w", now=2.0 + delay)
    with pytest.raises(ConflictError, match="stale lease"):
        await report(db, ReportKind.FAILED, first, "w", now=2.0 + delay)
    await report(db, ReportKind.STARTED, second, "w", now=3.0 + delay)
    assert await report(db, ReportKind.COMPLETED, second, "w", now=4.0 + delay) == "completed"
    async with db.read() as session:
        task = await get_task(session, task_id)
        events = await events_since(session, task.workflow_id, 0, 100)
        workflow = await session.get(WorkflowRow, task.workflow_id)
    await db.close()
    assert task.attempt == 2 and workflow is not None and workflow.status == "completed"
    started = [e.payload["attempt"] for e in events if e.type.value == "TASK_STARTED"]
    assert started == [1, 2]
    assert [e.payload["attempt"] for e in events if e.type.value == "TASK_COMPLETED"] == [2]


async def test_the_last_attempt_and_a_class_not_retried_fail_the_task_and_its_workflow(
    store_backend: StoreBackend,
) -> None:
    db = await store_backend.open_fresh()
    await add_worker(db, "w")
    exhausted = await add_task(db, attempts=2)
    not_retried = await add_task(db, attempts=5)
    leased = {t.task_id: t for t in await lease(db, "w", now=1.0)}
    assert await run_and_fail(db, leased[exhausted], "w", now=2.0) == "queued"
    assert await run_and_fail(db, leased[not_retried], "w", now=2.0, error_class="validation") == "failed"
    (again,) = await lease(db, "w", now=100.0)
    assert (again.task_id, again.attempt) == (exhausted, 2)
    assert await run_and_fail(db, again, "w", now=101.0) == "failed"
    async with db.read() as session:
        for task_id, attempts in ((exhausted, 2), (not_retried, 1)):
            task = await get_task(session, task_id)
            workflow = await session.get(WorkflowRow, task.workflow_id)
            events = await events_since(session, task.workflow_id, 0, 100)
            assert (task.status, task.attempt) == ("failed", attempts)
            assert workflow is not None and workflow.status == "failed"
            assert [e.payload["attempt"] for e in events if e.type.value == "TASK_FAILED"] == [attempts]
    await db.close()


async def test_without_an_override_the_orchestrators_policy_decides(store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    await add_worker(db, "w")
    await add_task(db)
    (first,) = await lease(db, "w", now=1.0)
    assert await run_and_fail(db, first, "w", now=2.0) == "failed"  # TaskRetryPolicy.max_attempts is 1
    await add_task(db, now=3.0)
    (second,) = await lease(db, "w", now=4.0)
    lease_report = LeaseReport(task_id=second.task_id, worker_id="w", fencing_token=second.fencing_token)
    started = BatchedReport.model_validate({"kind": "started", **lease_report.model_dump()})
    failed = BatchedReport.model_validate({"kind": "failed", **lease_report.model_dump(),
                                           "error": {"code": "TASK_ERROR", "errorClass": "unknown"}})
    two = TaskRetryRules.from_policies(Policies(task_retry=TaskRetryPolicy(max_attempts=2)))
    await transact(db, lambda s, c: apply_report(s, c, started, 5.0, TTL, two))
    applied, _ = await transact(db, lambda s, c: apply_report(s, c, failed, 5.0, TTL, two))
    await db.close()
    assert applied.status == "queued"


async def test_workers_are_leased_only_the_types_they_handle(store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    await add_worker(db, "builds", ["build"])
    await add_worker(db, "tests", ["test", "lint"])
    build = await add_task(db, "build", now=1.0)
    test = await add_task(db, "test", now=2.0)
    lint = await add_task(db, "lint", now=3.0)
    assert [t.task_id for t in await lease(db, "tests", now=5.0)] == [test, lint]
    assert [t.task_id for t in await lease(db, "builds", now=5.0)] == [build]
    await add_worker(db, "any")  # advertised no types: offered any type, as before routing existed
    other = await add_task(db, "deploy", now=6.0)
    assert await lease(db, "builds", now=7.0) == []
    assert [t.task_id for t in await lease(db, "any", now=7.0)] == [other]
    await db.close()


async def test_a_task_no_live_worker_handles_waits_visibly_until_one_registers(store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    await add_worker(db, "builds", ["build"])
    waiting = await add_task(db, "deploy", now=1.0)
    await add_task(db, "deploy", now=1.5)
    await add_task(db, "build", now=2.0)
    assert len(await lease(db, "builds", now=3.0)) == 1  # the build; the deploys stay queued
    async with db.read() as session:
        routing = await live_routing(session)
        assert routing.waiting_for("deploy") == "no live worker handles type 'deploy'"
        assert routing.waiting_for("build") is None
        assert await unroutable_queued(session, routing) == {"deploy": 2}
        assert (await get_task(session, waiting)).status == "queued"
    await add_worker(db, "deployer", ["deploy"], now=4.0)
    async with db.read() as session:
        assert await unroutable_queued(session, await live_routing(session)) == {}
    assert [t.task_id for t in await lease(db, "deployer", now=5.0, n=1)] == [waiting]
    # A worker that leaves rotation no longer routes its types.
    await transact(db, lambda s, c: deregister_worker(s, c, "deployer", 6.0))
    async with db.read() as session:
        routing = await live_routing(session)
        assert not routing.routable("deploy")
        # The remaining deploy is unroutable again; the leased one was handed back to the queue too.
        assert await unroutable_queued(session, routing) == {"deploy": 2}
    await db.close()


def test_the_lease_query_stays_an_ordered_index_scan(tmp_path: Path) -> None:
    """EXPLAIN QUERY PLAN on SQLite: the candidates come from ``ix_tasks_status_sort_key`` in order,
    with or without task types, never from a full scan or a full temporary sort."""

    async def migrate() -> None:
        db = Database.for_path(tmp_path / "plan.db")
        await db.open()
        await db.close()

    anyio.run(migrate)
    connection = sqlite3.connect(tmp_path / "plan.db")
    try:
        for types in (None, 1, 3):
            params = ["assigned", "w", 1.0, 0.0, "queued", 0.0, *(["t"] * (types or 0)), "python", "gpu", 4]
            plan = [row[3] for row in connection.execute(f"EXPLAIN QUERY PLAN {sqlite_lease_sql(2, types)}", params)]
            text = "\n".join(plan)
            assert "SEARCH candidate USING INDEX ix_tasks_status_sort_key (status=?)" in text, text
            # Only ties on sort_key are sorted apart ("RIGHT PART OF ORDER BY", as before routing): no full sort.
            assert "TEMP B-TREE FOR ORDER BY" not in text, text
            assert "SCAN candidate" not in text, text
    finally:
        connection.close()


def _migrate_to(connection: Connection, revision: str, *, down: bool = False) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    (command.downgrade if down else command.upgrade)(cfg, revision)


async def test_migration_0003_keeps_queued_tasks_leasable_and_old_workers_offered_any_type(
    tmp_path: Path, store_backend: StoreBackend,
) -> None:
    """A database at 0002 with a queued task and a registered worker: after 0003 the task is leasable at
    once under the orchestrator's policy, the worker is offered any type; the downgrade drops the columns."""
    if store_backend.server is None:
        url: str | URL = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        location: DatabaseLocation = tmp_path / "old.db"
    else:
        name = store_backend.server.create_database(migrated=False)
        location = store_backend.server.location(name)
        url = location.url
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_migrate_to, "0002")
            await connection.execute(text(
                "INSERT INTO workflows (id, type, status, priority, payload, created_at, updated_at) "
                "VALUES ('wf-old', 'noop', 'pending', 5, '{}', 0, 0)"))
            await connection.execute(text(
                "INSERT INTO tasks (id, workflow_id, type, payload, status, priority, enqueued_at, sort_key, "
                "required_capabilities, fencing_token, attempt, progress, progress_step, cancel_requested, updated_at)"
                " VALUES ('t-old', 'wf-old', 'noop', '{}', 'queued', 5, 0, 0, '[]', 0, 0, 0, '', false, 0)"))
            await connection.execute(text(
                "INSERT INTO workers (id, status, capabilities, hostname, max_concurrency, running, health, "
                "last_heartbeat, registered_at, incarnation) VALUES ('w-old', 'idle', '[\"python\"]', '', 1, 0, "
                "'{}', 0, 0, 1)"))
        db = Database.at(location)
        await db.open()  # migrates to head
        assert [t.task_id for t in await lease(db, "w-old", now=1.0)] == ["t-old"]
        async with db.read() as session:
            task = await get_task(session, "t-old")
            worker = await session.get(WorkerRow, "w-old")
        await db.close()
        assert (task.not_before, task.retry) == (0.0, None)
        assert worker is not None and worker.task_types is None
        async with engine.begin() as connection:
            await connection.run_sync(_migrate_to, "0002", down=True)
            columns = await connection.run_sync(
                lambda sync: {c["name"] for table in ("tasks", "workers") for c in inspect(sync).get_columns(table)})
        assert not {"not_before", "retry", "task_types"} & columns
    finally:
        await engine.dispose()
