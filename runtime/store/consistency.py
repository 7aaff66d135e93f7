"""Periodic consistency validation of the store (issue 14): integrity plus the invariants of `spec.database_faults`.

:func:`find_inconsistencies` reads, never writes: SQLite's ``quick_check``, leases held by
workers that are gone, running counts that do not match the leases, settled workflows with
open tasks. Each finding names its `Invariant` and the rows involved; the orchestrator's
supervised ``consistency-check`` service logs them and escalates (`runtime.orchestrator.db_recovery`).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.store.models import TaskRow, WorkerRow, WorkflowRow
from runtime.store.queue import LEASED, QUEUED
from spec.database_faults import Invariant
from spec.machine import StateRole
from spec.machines import WORKER_LIFECYCLE, WORKFLOW_LIFECYCLE

#: Worker states that hold no lease (terminal: deregistered, rejected).
_GONE = tuple(s.name for s in WORKER_LIFECYCLE.states if s.role is StateRole.TERMINAL)
#: Settled workflow states.
_SETTLED = tuple(s.name for s in WORKFLOW_LIFECYCLE.states if s.role is StateRole.TERMINAL)
#: Report at most this many rows per invariant.
_LIMIT = 20


@dataclass(frozen=True)
class Finding:
    invariant: Invariant
    detail: str


async def find_inconsistencies(session: AsyncSession, *, sqlite: bool) -> list[Finding]:
    findings: list[Finding] = []
    if sqlite:
        verdict = [str(r[0]) for r in (await session.execute(text("PRAGMA quick_check"))).all()]
        if verdict != ["ok"]:
            findings.append(Finding(Invariant.INTEGRITY, "; ".join(verdict[:_LIMIT])))
    live = select(WorkerRow.id).where(WorkerRow.status.not_in(_GONE))
    orphans = await session.execute(
        select(TaskRow.id, TaskRow.lease_worker)
        .where(TaskRow.status.in_(LEASED), (TaskRow.lease_worker.is_(None)) | TaskRow.lease_worker.not_in(live))
        .limit(_LIMIT))
    findings.extend(Finding(Invariant.LEASE_WITHOUT_LIVE_WORKER, f"task {task} leased to {worker or 'nobody'}")
                    for task, worker in orphans.all())
    held = (select(TaskRow.lease_worker, func.count().label("n")).where(TaskRow.status.in_(LEASED))
            .group_by(TaskRow.lease_worker).subquery())
    counts = await session.execute(
        select(WorkerRow.id, WorkerRow.running, func.coalesce(held.c.n, 0))
        .outerjoin(held, held.c.lease_worker == WorkerRow.id)
        .where(WorkerRow.status.not_in(_GONE), WorkerRow.running != func.coalesce(held.c.n, 0))
        .limit(_LIMIT))
    findings.extend(Finding(Invariant.RUNNING_COUNT, f"worker {worker} counts {running} running, holds {n} leases")
                    for worker, running, n in counts.all())
    open_tasks = await session.execute(
        select(WorkflowRow.id, WorkflowRow.status, TaskRow.id, TaskRow.status)
        .join(TaskRow, TaskRow.workflow_id == WorkflowRow.id)
        .where(WorkflowRow.status.in_(_SETTLED), TaskRow.status.in_((QUEUED, *LEASED)))
        .limit(_LIMIT))
    findings.extend(
        Finding(Invariant.SETTLED_WORKFLOW_WITH_OPEN_TASK, f"workflow {wf} is {wf_status} but task {task} is {status}")
        for wf, wf_status, task, status in open_tasks.all())
    return findings
