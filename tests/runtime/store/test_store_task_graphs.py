"""DAG workflows in the store (issue 12): stored graphs, dependency order, failure policies, cancel, migration.

Every test runs on SQLite and on PostgreSQL (the ``store_backend`` fixture), except the SQLite
migration and query-plan checks.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from alembic import command
from alembic.config import Config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from runtime.errors import ConflictError, NotFoundError
from runtime.graph_protocol import WorkflowGraphRequest
from runtime.protocol import BatchedReport, ReportKind, TaskAssignment, TaskError
from runtime.store.database import MIGRATIONS, Database
from runtime.store.queue import get_task, get_workflow, lease_next_tasks, requeue_worker_tasks, workflow_tasks
from runtime.store.reports import apply_reports
from runtime.store.task_graphs import cancel_workflow, graph_of, submit_graph
from spec.decisions.task_graph import FailurePolicy
from tests.runtime.store.store_helpers import transact
from tests.runtime.store.test_store_queue import add_worker
from tests.store_backends import StoreBackend

AGING, TTL = 30.0, 60.0
pytestmark = pytest.mark.anyio


async def add_graph(db: Database, tasks: list[tuple[str, list[str]]],
                    policy: FailurePolicy = FailurePolicy.FAIL_FAST) -> tuple[str, dict[str, str]]:
    request = WorkflowGraphRequest.model_validate({
        "tasks": [{"id": key, "type": "noop", "payload": {"key": key}, "dependsOn": needs} for key, needs in tasks],
        "failurePolicy": policy})

    async def work(session, changes):  # type: ignore[no-untyped-def]
        return await submit_graph(session, changes, request, graph_of(request, 256), 0.0, AGING)

    (workflow_id, task_ids), _ = await transact(db, work)
    return workflow_id, {task_id: key for (key, _), task_id in zip(tasks, task_ids, strict=True)}


async def lease_all(db: Database, worker_id: str = "w") -> list[TaskAssignment]:
    async def work(session, changes):  # type: ignore[no-untyped-def]
        return (await lease_next_tasks(session, changes, worker_id, 64, 1.0, TTL)).tasks

    leased, _ = await transact(db, work)
    return leased


def report(kind: ReportKind, task: TaskAssignment, worker_id: str = "w", **extra: Any) -> BatchedReport:
    return BatchedReport(kind=kind, task_id=task.task_id, worker_id=worker_id, fencing_token=task.fencing_token,
                         **extra)


async def finish(db: Database, tasks: list[TaskAssignment], failing: set[str], keys: dict[str, str]) -> None:
    """Start every task, then complete it (or fail it if its key is in `failing`), in one batch."""
    reports = [report(ReportKind.STARTED, t) for t in tasks]
    for t in tasks:
        if keys[t.task_id] in failing:
            reports.append(report(ReportKind.FAILED, t, error=TaskError(code="TASK_ERROR", message="no")))
        else:
            reports.append(report(ReportKind.COMPLETED, t, result={"by": keys[t.task_id]}))

    answers, _ = await transact(db, lambda s, c: apply_reports(s, c, reports, 2.0, TTL))
    assert all(hasattr(a, "status") for a in answers), answers


async def statuses(db: Database, workflow_id: str, keys: dict[str, str]) -> tuple[str, dict[str, str]]:
    async with db.read() as session:
        workflow = await get_workflow(session, workflow_id)
        return workflow.status, {keys[t.id]: t.status for t in await workflow_tasks(session, workflow_id)}


async def test_a_diamond_runs_in_order_with_its_dependencies_results(store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    try:
        await add_worker(db, "w", ["python"], slots=8)
        workflow_id, keys = await add_graph(db, [("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])])
        assert (await statuses(db, workflow_id, keys))[1] == {"a": "queued", "b": "blocked", "c": "blocked",
                                                              "d": "blocked"}
        order = []
        while leased := await lease_all(db):
            order.append(sorted(keys[t.task_id] for t in leased))
            for t in leased:
                needs = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}[keys[t.task_id]]
                assert t.dependencies == {n: {"by": n} for n in needs}
            await finish(db, leased, set(), keys)
        assert order == [["a"], ["b", "c"], ["d"]]
        assert await statuses(db, workflow_id, keys) == ("completed", dict.fromkeys("abcd", "completed"))
    finally:
        await db.close()


dags = st.integers(1, 8).flatmap(lambda n: st.tuples(*[
    st.lists(st.integers(0, i - 1), unique=True, max_size=3) if i else st.just([]) for i in range(n)]))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(shape=dags, data=st.data())
def test_finish_independent_runs_exactly_the_tasks_no_failure_is_upstream_of(
    store_backend: StoreBackend, shape: tuple[list[int], ...], data: st.DataObject
) -> None:
    tasks = [(f"t{i}", [f"t{j}" for j in needs]) for i, needs in enumerate(shape)]
    failing = set(data.draw(st.lists(st.sampled_from([k for k, _ in tasks]), unique=True)))

    async def scenario() -> tuple[str, dict[str, str]]:
        db = await store_backend.open_fresh()
        try:
            await add_worker(db, "w", ["python"], slots=64)
            workflow_id, keys = await add_graph(db, tasks, FailurePolicy.FINISH_INDEPENDENT)
            for _ in range(len(tasks) + 1):
                leased = await lease_all(db)
                if not leased:
                    break
                await finish(db, leased, failing, keys)
            return await statuses(db, workflow_id, keys)
        finally:
            await db.close()

    status, by_key = asyncio.run(scenario())
    edges = nx.DiGraph([(n, t) for t, needs in tasks for n in needs])
    edges.add_nodes_from(k for k, _ in tasks)
    ran = {t for t in edges if not nx.ancestors(edges, t) & failing}
    assert {k for k, s in by_key.items() if s in ("completed", "failed")} == ran
    assert {k for k, s in by_key.items() if s == "skipped"} == set(edges) - ran
    assert status == ("failed" if failing & ran else "completed")


async def test_fail_fast_cancels_waiting_tasks_and_flags_leased_ones(store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    try:
        await add_worker(db, "w", ["python"], slots=8)
        workflow_id, keys = await add_graph(db, [("a", []), ("b", []), ("c", ["a"])])
        leased = {keys[t.task_id]: t for t in await lease_all(db)}
        await finish(db, [leased["a"]], {"a"}, keys)
        status, by_key = await statuses(db, workflow_id, keys)
        assert status == "failed" and by_key == {"a": "failed", "b": "assigned", "c": "cancelled"}
        async with db.read() as session:
            assert (await get_task(session, leased["b"].task_id)).cancel_requested
        # its worker goes away before it stops the task: not re-queued, the workflow is over
        await transact(db, lambda s, c: requeue_worker_tasks(s, c, "w", 3.0, "worker deregistered"))
        assert (await statuses(db, workflow_id, keys))[1]["b"] == "cancelled"
        assert await lease_all(db) == []
    finally:
        await db.close()


async def test_cancel_is_idempotent_and_refuses_settled_or_unknown_workflows(store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    try:
        await add_worker(db, "w", ["python"], slots=8)
        workflow_id, keys = await add_graph(db, [("a", []), ("b", ["a"])])
        (a,) = await lease_all(db)
        _, changes = await transact(db, lambda s, c: cancel_workflow(s, c, workflow_id, 2.0))
        assert [(ch.record.machine, ch.record.trigger) for ch in changes.transitions] == [
            ("task_lifecycle", "cancel"), ("workflow_lifecycle", "cancel")]
        assert await statuses(db, workflow_id, keys) == ("cancelled", {"a": "assigned", "b": "cancelled"})
        _, again = await transact(db, lambda s, c: cancel_workflow(s, c, workflow_id, 3.0))
        assert again.transitions == []
        # a late completion is accepted; the workflow stays cancelled and nothing is released
        await finish(db, [a], set(), keys)
        assert await statuses(db, workflow_id, keys) == ("cancelled", {"a": "completed", "b": "cancelled"})
        with pytest.raises(NotFoundError):
            await transact(db, lambda s, c: cancel_workflow(s, c, "wf-nope", 4.0))
        done_id, done_keys = await add_graph(db, [("x", [])])
        await finish(db, await lease_all(db), set(), done_keys)
        with pytest.raises(ConflictError, match="completed"):
            await transact(db, lambda s, c: cancel_workflow(s, c, done_id, 5.0))
    finally:
        await db.close()


# -- SQLite only: the migration from the previous revision, and the indexes releases use -----------

def _alembic(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


def test_migration_keeps_existing_workflows_and_downgrades(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        cfg = _alembic(str(engine.url))
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0003_task_retries")
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO workflows VALUES ('wf-1', 'noop', 'pending', 5, '{}', 0, 0)")
        conn.execute("INSERT INTO tasks (id, workflow_id, type, payload, status, priority, enqueued_at, sort_key, "
                     "required_capabilities, fencing_token, attempt, progress, progress_step, cancel_requested, "
                     "updated_at) VALUES ('t-1', 'wf-1', 'noop', '{}', 'queued', 5, 0, 0, '[]', 0, 0, 0, '', 0, 0)")
    for revision in ("head", "0003_task_retries", "head"):
        with engine.begin() as connection:
            cfg.attributes["connection"] = connection
            (command.upgrade if revision == "head" else command.downgrade)(cfg, revision)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT failure_policy FROM workflows").fetchall() == [("fail_fast",)]
        assert conn.execute("SELECT key FROM tasks").fetchall() == [(None,)]
        assert conn.execute("SELECT count(*) FROM task_dependencies").fetchone() == (0,)
    engine.dispose()


async def test_edges_are_read_through_their_indexes(tmp_path: Path) -> None:
    db = Database.for_path(tmp_path / "plan.db")
    await db.open()
    await db.close()
    with sqlite3.connect(tmp_path / "plan.db") as conn:
        plan = " ".join(str(r) for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT task_id, depends_on FROM task_dependencies WHERE workflow_id IN (?)", ["x"]))
        assert "ix_task_dependencies_workflow_id" in plan, plan
        plan = " ".join(str(r) for r in conn.execute(
            "EXPLAIN QUERY PLAN SELECT d.task_id, t.key, t.result FROM task_dependencies AS d JOIN tasks AS t "
            "ON t.id = d.depends_on WHERE d.task_id IN (?)", ["x"]))
        assert "SCAN" not in plan, plan


async def test_a_retryable_failure_after_the_workflow_failed_fast_is_not_retried(store_backend: StoreBackend) -> None:
    """Regression (merge with task retries): a retry would re-queue a task of a workflow that is over."""
    request = WorkflowGraphRequest.model_validate({"tasks": [
        {"id": "a", "type": "noop"}, {"id": "b", "type": "noop", "retry": {"maxAttempts": 3}}]})
    db = await store_backend.open_fresh()
    try:
        await add_worker(db, "w", ["python"], slots=8)
        (workflow_id, task_ids), _ = await transact(db, lambda s, c: submit_graph(
            s, c, request, graph_of(request, 256), 0.0, AGING))
        keys = dict(zip(task_ids, "ab", strict=True))
        leased = {keys[t.task_id]: t for t in await lease_all(db)}
        await finish(db, [leased["a"]], {"a"}, keys)
        network = TaskError(code="TASK_ERROR", error_class="network", message="connection reset")
        answers, _ = await transact(db, lambda s, c: apply_reports(s, c, [
            report(ReportKind.STARTED, leased["b"]), report(ReportKind.FAILED, leased["b"], error=network)], 3.0, TTL))
        assert [getattr(a, "status", None) for a in answers] == ["running", "failed"]
        assert await statuses(db, workflow_id, keys) == ("failed", {"a": "failed", "b": "failed"})
    finally:
        await db.close()
