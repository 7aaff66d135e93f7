"""Scheduling, leases and fencing on the real store (issue 3 §4), with hypothesis where inputs vary.

Every test runs on SQLite and on PostgreSQL (issue 16, the ``store_backend`` fixture).
"""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.errors import ConflictError
from runtime.protocol import (
    BatchedReport,
    HeartbeatRequest,
    LeaseReport,
    RegisterRequest,
    ReportKind,
    TaskAssignment,
    TaskError,
    WorkflowRequest,
)
from runtime.store.database import Database
from runtime.store.event_log import events_since
from runtime.store.models import WorkerRow
from runtime.store.queue import expire_stale_leases, get_task, lease_next_tasks, submit_workflow
from runtime.store.registry import get_worker, mark_silent_workers, record_heartbeat, register_worker
from runtime.store.reports import apply_report
from spec.decisions.scheduling import QueuedTask, choose, sort_key
from spec.policies import DEFAULT_POLICIES
from tests.runtime.store.store_helpers import by_admin, transact
from tests.store_backends import StoreBackend

AGING = DEFAULT_POLICIES.lease.aging_interval_s
TTL = DEFAULT_POLICIES.lease.lease_ttl_s
CAPABILITIES = ["python", "node", "gpu", "docker"]

pytestmark = pytest.mark.anyio


async def add_worker(db: Database, worker_id: str, caps: list[str], now: float = 0.0, slots: int = 1) -> None:
    async def work(session, changes):  # type: ignore[no-untyped-def]
        request = RegisterRequest(worker_id=worker_id, capabilities=caps, max_concurrency=slots)
        await register_worker(session, changes, by_admin(request), now)

    await transact(db, work)


async def add_task(db: Database, priority: int, caps: list[str], now: float) -> str:
    async def work(session, changes):  # type: ignore[no-untyped-def]
        request = WorkflowRequest(type="noop", priority=priority, required_capabilities=caps)
        _, tasks = await submit_workflow(session, changes, request, now, AGING)
        return tasks[0].id

    task_id, _ = await transact(db, work)
    return task_id


def report_of(kind: ReportKind, lease: LeaseReport, **extra: object) -> BatchedReport:
    return BatchedReport.model_validate({"kind": kind, **lease.model_dump(), **extra})


async def lease(db: Database, worker_id: str, now: float, n: int = 1) -> list[TaskAssignment]:
    async def work(session, changes):  # type: ignore[no-untyped-def]
        return (await lease_next_tasks(session, changes, worker_id, n, now, TTL)).tasks

    tasks, _ = await transact(db, work)
    return tasks


task_specs = st.lists(
    st.tuples(st.integers(0, 10), st.lists(st.sampled_from(CAPABILITIES), max_size=2, unique=True),
              st.floats(0, 3600, allow_nan=False)),
    min_size=1, max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(specs=task_specs, worker_caps=st.lists(st.sampled_from(CAPABILITIES), min_size=1, max_size=4, unique=True))
def test_leasing_respects_capabilities_and_effective_priority(
    store_backend: StoreBackend, specs: list[tuple[int, list[str], float]], worker_caps: list[str]
) -> None:
    async def scenario() -> None:
        db = await store_backend.open_fresh()  # a fresh database per example
        try:
            await add_worker(db, "w", worker_caps, slots=len(specs))
            ids = {await add_task(db, p, caps, t): (p, set(caps), t) for p, caps, t in specs}
            leased: list[TaskAssignment] = []
            while batch := await lease(db, "w", now=4000.0):
                leased.extend(batch)
        finally:
            await db.close()
        fits = {i for i, (_, caps, _) in ids.items() if caps <= set(worker_caps)}
        # never leased to a worker lacking a capability; everything that fits is leased
        assert {t.task_id for t in leased} == fits
        # higher effective priority (priority + waiting time / aging interval) first
        keys = [sort_key(ids[t.task_id][2], ids[t.task_id][0], AGING) for t in leased]
        assert keys == sorted(keys)

    asyncio.run(scenario())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(specs=task_specs, worker_caps=st.lists(st.sampled_from(CAPABILITIES), min_size=1, max_size=4, unique=True),
       slots=st.integers(1, 8), asked=st.integers(1, 10))
def test_the_leasing_query_is_the_spec_scheduling_rule(
    store_backend: StoreBackend, specs: list[tuple[int, list[str], float]], worker_caps: list[str], slots: int,
    asked: int,
) -> None:
    """Issue 11: the store's indexed query and `spec.decisions.scheduling.choose` lease the same
    tasks in the same order, for any queue, capabilities, free slots and poll size."""
    async def scenario() -> None:
        db = await store_backend.open_fresh()
        try:
            await add_worker(db, "w", worker_caps, slots=slots)
            queued = [QueuedTask(await add_task(db, p, caps, t), t, p, frozenset(caps)) for p, caps, t in specs]
            leased = await lease(db, "w", now=4000.0, n=asked)
        finally:
            await db.close()
        assert [t.task_id for t in leased] == choose(queued, worker_caps, asked, slots, running=0)

    asyncio.run(scenario())


async def test_aging_lets_an_old_low_priority_task_overtake_a_fresh_high_one(store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    old_low = await add_task(db, priority=1, caps=[], now=0.0)
    await add_task(db, priority=5, caps=[], now=5 * AGING)  # 4 levels higher but 5 intervals younger
    await add_worker(db, "w", ["python"])
    (first,) = await lease(db, "w", now=6 * AGING)
    await db.close()
    assert first.task_id == old_low


async def test_lease_fencing_rejects_stale_reports_and_double_completion(store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    await add_worker(db, "a", ["python"], now=0.0)
    await add_worker(db, "b", ["python"], now=0.0)
    task_id = await add_task(db, 5, [], now=0.0)
    (first,) = await lease(db, "a", now=1.0)
    stale = LeaseReport(task_id=task_id, worker_id="a", fencing_token=first.fencing_token)

    expired, changes = await transact(db, lambda s, c: expire_stale_leases(s, c, now=1.0 + TTL + 1))
    assert expired == 1
    assert [c.record.trigger for c in changes.transitions] == ["lease_lost", "task_finished"]

    (second,) = await lease(db, "b", now=TTL + 3)
    assert second.fencing_token > first.fencing_token
    with pytest.raises(ConflictError):
        await transact(db, lambda s, c: apply_report(s, c, report_of(ReportKind.STARTED, stale), TTL + 4, TTL))
    fresh = LeaseReport(task_id=task_id, worker_id="b", fencing_token=second.fencing_token)
    await transact(db, lambda s, c: apply_report(s, c, report_of(ReportKind.STARTED, fresh), TTL + 4, TTL))
    done_once = report_of(ReportKind.COMPLETED, fresh, result={"n": 1})
    await transact(db, lambda s, c: apply_report(s, c, done_once, TTL + 5, TTL))
    # A redelivery (the reply was lost) is acknowledged again and changes nothing.
    _, redelivered = await transact(db, lambda s, c: apply_report(s, c, done_once, TTL + 6, TTL))
    assert redelivered.transitions == [] and redelivered.event_rows == []
    done_twice = report_of(ReportKind.COMPLETED, fresh, result={"n": 2})
    with pytest.raises(ConflictError, match="result"):
        await transact(db, lambda s, c: apply_report(s, c, done_twice, TTL + 6, TTL))
    failed_after = report_of(ReportKind.FAILED, fresh, error=TaskError(code="TASK_ERROR"))
    with pytest.raises(ConflictError, match="completed"):
        await transact(db, lambda s, c: apply_report(s, c, failed_after, TTL + 6, TTL))
    async with db.read() as session:
        task = await get_task(session, task_id)
        events = await events_since(session, task.workflow_id, 0, 100)
        worker = await session.get(WorkerRow, "b")
    await db.close()
    assert task.status == "completed" and task.result == {"n": 1}
    assert [e.type.value for e in events].count("TASK_COMPLETED") == 1
    assert worker is not None and worker.running == 0 and worker.status == "idle"


async def test_silent_workers_leave_rotation_and_hand_back_their_tasks(store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    heartbeat = DEFAULT_POLICIES.heartbeat
    await add_worker(db, "quiet", ["python"], now=0.0)
    task_id = await add_task(db, 5, [], now=0.0)
    await lease(db, "quiet", now=0.0)
    silent, _ = await transact(db, lambda s, c: mark_silent_workers(s, c, heartbeat.timeout_s - 1, heartbeat.timeout_s))
    assert silent == []
    silent, changes = await transact(db, lambda s, c: mark_silent_workers(s, c, heartbeat.timeout_s + 1,
                                                                          heartbeat.timeout_s))
    async with db.read() as session:
        task = await get_task(session, task_id)
        worker = await get_worker(session, "quiet")
    await db.close()
    assert silent == ["quiet"] and worker.status == "unhealthy"
    assert task.status == "queued" and task.lease_worker is None
    assert ("worker_lifecycle", "heartbeats_missed") in [(c.record.machine, c.record.trigger)
                                                        for c in changes.transitions]


async def test_event_ids_increase_and_resume_returns_only_newer(store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    await add_worker(db, "w", ["python"])
    task_id = await add_task(db, 5, [], now=0.0)
    (task,) = await lease(db, "w", now=1.0)
    report = LeaseReport(task_id=task_id, worker_id="w", fencing_token=task.fencing_token)
    _, started = await transact(db, lambda s, c: apply_report(s, c, report_of(ReportKind.STARTED, report), 2.0, TTL))
    completed = report_of(ReportKind.COMPLETED, report)
    _, done = await transact(db, lambda s, c: apply_report(s, c, completed, 3.0, TTL))
    async with db.read() as session:
        everything = await events_since(session, task.workflow_id, 0, 100)
        after_first = await events_since(session, task.workflow_id, everything[0].id, 100)
        last_one = await events_since(session, task.workflow_id, 0, 1)
    await db.close()
    assert [e.type.value for e in everything] == ["TASK_STARTED", "TASK_COMPLETED", "WORKFLOW_COMPLETED"]
    assert [e.id for e in everything] == sorted(e.id for e in everything)
    assert after_first == everything[1:] and last_one == everything[-1:]
    assert started.events + done.events == everything


async def test_a_heartbeat_renews_only_the_leases_its_worker_still_holds(store_backend: StoreBackend) -> None:
    """A lease the worker no longer claims (it gave up reporting) runs out and its task is re-queued."""
    db = await store_backend.open_fresh()
    await add_worker(db, "w", ["python"], slots=2)
    kept, dropped = await add_task(db, 5, [], now=0.0), await add_task(db, 5, [], now=0.5)
    assert {t.task_id for t in await lease(db, "w", now=1.0, n=2)} == {kept, dropped}
    beat = HeartbeatRequest(worker_id="w", held_task_ids=[kept])
    await transact(db, lambda s, c: record_heartbeat(s, c, beat, TTL, TTL))
    expired, _ = await transact(db, lambda s, c: expire_stale_leases(s, c, now=TTL + 2))
    async with db.read() as session:
        statuses = {t: (await get_task(session, t)).status for t in (kept, dropped)}
    await db.close()
    assert expired == 1 and statuses == {kept: "assigned", dropped: "queued"}


async def test_a_heartbeat_without_a_held_list_renews_every_lease(store_backend: StoreBackend) -> None:
    db = await store_backend.open_fresh()
    await add_worker(db, "w", ["python"], slots=2)
    await add_task(db, 5, [], now=0.0)
    await add_task(db, 5, [], now=0.5)
    await lease(db, "w", now=1.0, n=2)
    beat = HeartbeatRequest(worker_id="w")
    await transact(db, lambda s, c: record_heartbeat(s, c, beat, TTL, TTL))
    expired, _ = await transact(db, lambda s, c: expire_stale_leases(s, c, now=TTL + 2))
    await db.close()
    assert expired == 0
