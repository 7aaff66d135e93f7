"""The queue's hot rows — leasing, and the rows a batch of lease reports touches — portable and SQLite-native.

`runtime.store.queue` and `runtime.store.reports` decide *what* changes; this module only moves
rows. Two interchangeable implementations of :class:`QueueRows`:

* :class:`CoreQueueRows` — SQLAlchemy Core statements, for any database SQLAlchemy drives
  (PostgreSQL included);
* :class:`SqliteQueueRows` — the same statements as SQL text on the session's own sqlite3
  connection, inside the same transaction. On the embedded default this is the orchestrator's
  hottest path, and SQLAlchemy's per-statement and per-row machinery cost about twice the
  statements themselves (docs/runtime.md, "Performance").

tests/runtime/store/test_store_queue_rows.py runs random leases and report batches through both
and requires identical answers and identical stored rows.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple, Protocol

from sqlalchemy import JSON, Integer, Update, bindparam, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from runtime.protocol import TaskAssignment
from runtime.store.database import inline_sqlite
from runtime.store.models import EVENTS, TASK_REQUIREMENTS, TASKS, WORKERS, WORKFLOWS

#: (id, workflow_id, status, lease_worker, fencing_token, attempt)
TaskTuple = tuple[str, str, str, "str | None", int, int]
#: (id, status)
WorkflowTuple = tuple[str, str]
#: (id, workflow_id, task_id, type) of an inserted event
EventKey = tuple[int, str, "str | None", str]

_TASK_COLUMNS = ("id", "workflow_id", "status", "lease_worker", "fencing_token", "attempt")
_EVENT_COLUMNS = ("workflow_id", "task_id", "type", "time", "payload")
#: Task columns stored as JSON text, read from the model so that no column is typed twice.
_JSON_TASK_COLUMNS = frozenset(c.name for c in TASKS.c if isinstance(c.type, JSON))


#: What a lease returns of each task: the `TaskAssignment` fields, then ``sort_key`` to order them.
_LEASED_COLUMNS = ("id", "workflow_id", "type", "payload", "priority", "fencing_token", "lease_expires_at",
                   "attempt", "saved_state", "sort_key")


class WorkerSlots(NamedTuple):
    """The worker fields leasing and lease reports read."""

    id: str
    status: str
    running: int
    max_concurrency: int
    capabilities: list[str]
    incarnation: int
    #: The types it handles; None = any (`RegisterRequest.task_types`).
    task_types: list[str] | None


_WORKER_COLUMNS = WorkerSlots._fields


@dataclass(frozen=True)
class LeaseGrant:
    """Lease up to `limit` of the best `queued` tasks whose every requirement is in `capabilities`,
    whose type is one of `task_types` (None: any type), and whose ``not_before`` has come."""

    worker_id: str
    capabilities: list[str]
    limit: int
    queued: str
    assigned: str
    expires_at: float
    now: float
    task_types: list[str] | None = None


class QueueRows(Protocol):
    """Row access for leasing and for one batch of reports, inside the caller's transaction."""

    async def lease(self, grant: LeaseGrant) -> list[TaskAssignment]:
        """Mark the tasks leased (token and attempt + 1) and return them best first."""

    async def tasks_of_workflows_of(self, task_ids: Sequence[str]) -> Iterable[TaskTuple]: ...
    async def workers(self, worker_ids: Sequence[str]) -> list[WorkerSlots]: ...
    async def workflows(self, workflow_ids: Sequence[str]) -> Iterable[WorkflowTuple]: ...
    async def update_tasks(self, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None: ...
    async def update_workflows(self, rows: list[tuple[str, str, float]]) -> None: ...
    async def update_workers(self, rows: list[tuple[str, str, int]]) -> None: ...
    async def insert_events(self, rows: list[dict[str, Any]]) -> Iterable[EventKey]: ...
    async def outcomes(self, task_ids: Sequence[str]) -> dict[str, TaskOutcome]:
        """Stored ``(result, error)`` of settled tasks: what a redelivered report is compared with."""

    async def retry_overrides(self, task_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The tasks' own retry fields (``tasks.retry``), for those that have any: what a failure is decided by."""


#: (result, error) as stored
TaskOutcome = tuple["dict[str, Any] | None", "dict[str, Any] | None"]


async def queue_rows(session: AsyncSession) -> QueueRows:
    """The SQLite-native rows on the embedded database, the portable ones elsewhere."""
    connection = await inline_sqlite(session)
    return SqliteQueueRows(connection) if connection is not None else CoreQueueRows(session)


# -- portable: SQLAlchemy Core -------------------------------------------------------------

# Statements built once: building and hashing a statement per call cost more than running it.
_LOAD_TASKS = select(*(TASKS.c[c] for c in _TASK_COLUMNS)).where(TASKS.c.workflow_id.in_(
    select(TASKS.c.workflow_id).where(TASKS.c.id.in_(bindparam("ids", expanding=True)))))
_LOAD_WORKERS = select(*(WORKERS.c[c] for c in _WORKER_COLUMNS)).where(
    WORKERS.c.id.in_(bindparam("ids", expanding=True)))
_LOAD_WORKFLOWS = select(WORKFLOWS.c.id, WORKFLOWS.c.status).where(
    WORKFLOWS.c.id.in_(bindparam("ids", expanding=True)))
_LOAD_OUTCOMES = select(TASKS.c.id, TASKS.c.result, TASKS.c.error).where(
    TASKS.c.id.in_(bindparam("ids", expanding=True)))
_LOAD_RETRY = select(TASKS.c.id, TASKS.c.retry).where(
    TASKS.c.id.in_(bindparam("ids", expanding=True)), TASKS.c.retry.is_not(None))
_UPDATE_WORKFLOWS = update(WORKFLOWS).where(WORKFLOWS.c.id == bindparam("k_id")).values(
    status=bindparam("v_status"), updated_at=bindparam("v_updated_at"))
_UPDATE_WORKERS = update(WORKERS).where(WORKERS.c.id == bindparam("k_id")).values(
    status=bindparam("v_status"), running=bindparam("v_running"))
# SQLite returns RETURNING rows in no promised order; asking SQLAlchemy for parameter order would
# make it insert one row per statement, so callers match ids back by (workflow, task, type).
_INSERT_EVENTS = insert(EVENTS).returning(EVENTS.c.id, EVENTS.c.workflow_id, EVENTS.c.task_id, EVENTS.c.type)


_CANDIDATE = TASKS.alias("candidate")


def _lease_statement(*, typed: bool) -> Update:
    """The lease ``UPDATE``; `typed` adds the worker's task types to the candidates' filter.

    The filters ride along the ``(status, sort_key)`` index scan (docs/runtime.md, "Routing").
    """
    candidates = select(_CANDIDATE.c.id).where(
        _CANDIDATE.c.status == bindparam("queued"), _CANDIDATE.c.not_before <= bindparam("now"),
        ~exists().where(TASK_REQUIREMENTS.c.task_id == _CANDIDATE.c.id,
                        TASK_REQUIREMENTS.c.capability.not_in(bindparam("capabilities", expanding=True))))
    if typed:
        candidates = candidates.where(_CANDIDATE.c.type.in_(bindparam("task_types", expanding=True)))
    return (
        update(TASKS)
        .where(TASKS.c.id.in_(candidates.order_by(_CANDIDATE.c.sort_key, _CANDIDATE.c.id)
                              .limit(bindparam("limit", type_=Integer)).with_for_update(skip_locked=True)))
        .values(status=bindparam("assigned"), fencing_token=TASKS.c.fencing_token + 1, attempt=TASKS.c.attempt + 1,
                lease_worker=bindparam("worker_id"), lease_expires_at=bindparam("expires_at"),
                cancel_requested=False, updated_at=bindparam("now"))
        .returning(*(TASKS.c[c] for c in _LEASED_COLUMNS))
    )


_LEASE, _LEASE_TYPED = _lease_statement(typed=False), _lease_statement(typed=True)


def _best_first(rows: Iterable[tuple[Any, ...]]) -> list[TaskAssignment]:
    """Leased rows (payload and saved state decoded) as assignments, in the queue's order.

    ``RETURNING`` promises no order, so the rows are sorted here by (sort_key, id) as the lease chose them.
    """
    return [
        TaskAssignment(task_id=i, workflow_id=w, type=t, payload=p, priority=pr, fencing_token=f,
                       lease_expires_at=e, attempt=a, saved_state=s or {})
        for i, w, t, p, pr, f, e, a, s, _ in sorted(rows, key=lambda r: (r[-1], r[0]))
    ]


@functools.cache
def _update_tasks(columns: tuple[str, ...]) -> Update:
    """``UPDATE tasks SET <columns> WHERE id = :k_id`` for one set of changed columns (a handful exist)."""
    return update(TASKS).where(TASKS.c.id == bindparam("k_id")).values({c: bindparam(f"v_{c}") for c in columns})


class CoreQueueRows:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lease(self, grant: LeaseGrant) -> list[TaskAssignment]:
        statement = _LEASE if grant.task_types is None else _LEASE_TYPED
        return _best_first(tuple(row) for row in await self.session.execute(statement, asdict(grant)))

    async def tasks_of_workflows_of(self, task_ids: Sequence[str]) -> Iterable[TaskTuple]:
        return [tuple(r) for r in await self.session.execute(_LOAD_TASKS, {"ids": list(task_ids)})]

    async def workers(self, worker_ids: Sequence[str]) -> list[WorkerSlots]:
        return [WorkerSlots(*r) for r in await self.session.execute(_LOAD_WORKERS, {"ids": list(worker_ids)})]

    async def workflows(self, workflow_ids: Sequence[str]) -> Iterable[WorkflowTuple]:
        return [tuple(r) for r in await self.session.execute(_LOAD_WORKFLOWS, {"ids": list(workflow_ids)})]

    async def update_tasks(self, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
        params = [{"k_id": row["id"], **{f"v_{c}": row[c] for c in columns}} for row in rows]
        await self.session.execute(_update_tasks(columns), params)

    async def update_workflows(self, rows: list[tuple[str, str, float]]) -> None:
        await self.session.execute(_UPDATE_WORKFLOWS, [{"k_id": i, "v_status": s, "v_updated_at": t}
                                                       for i, s, t in rows])

    async def update_workers(self, rows: list[tuple[str, str, int]]) -> None:
        await self.session.execute(_UPDATE_WORKERS, [{"k_id": i, "v_status": s, "v_running": n} for i, s, n in rows])

    async def insert_events(self, rows: list[dict[str, Any]]) -> Iterable[EventKey]:
        return [tuple(r) for r in await self.session.execute(_INSERT_EVENTS, rows)]

    async def outcomes(self, task_ids: Sequence[str]) -> dict[str, TaskOutcome]:
        return {i: (r, e) for i, r, e in await self.session.execute(_LOAD_OUTCOMES, {"ids": list(task_ids)})}

    async def retry_overrides(self, task_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        rows = await self.session.execute(_LOAD_RETRY, {"ids": list(task_ids)})
        return {i: r for i, r in rows if r is not None}


# -- SQLite-native: the same statements on the session's sqlite3 connection ------------------

def _in(values: Sequence[object] | range) -> str:
    return f"({', '.join('?' * len(values))})"


@functools.cache
def sqlite_lease_sql(capabilities: int, task_types: int | None) -> str:
    """The lease statement for that many capabilities and task types (None: any type), parameters in order:
    assigned, worker, expiry, now, queued, now, the types, the capabilities, the limit.

    Its candidates are an ordered scan of ``ix_tasks_status_sort_key``: the type, not-before and
    requirement filters are checked on the rows the scan visits (tests/runtime/store, EXPLAIN QUERY PLAN).
    """
    typed = "" if task_types is None else f" AND candidate.type IN {_in(range(task_types))}"
    return (
        "UPDATE tasks SET status = ?, fencing_token = fencing_token + 1, attempt = attempt + 1, lease_worker = ?, "
        "lease_expires_at = ?, cancel_requested = 0, updated_at = ? WHERE id IN ("
        " SELECT candidate.id FROM tasks AS candidate WHERE candidate.status = ? AND candidate.not_before <= ?"
        f"{typed} AND NOT EXISTS ("
        "  SELECT 1 FROM task_requirements WHERE task_requirements.task_id = candidate.id"
        f"  AND task_requirements.capability NOT IN {_in(range(capabilities))})"
        " ORDER BY candidate.sort_key, candidate.id LIMIT ?)"
        f" RETURNING {', '.join(_LEASED_COLUMNS)}"
    )


class SqliteQueueRows:
    def __init__(self, connection: sqlite3.Connection) -> None:
        self.db = connection

    async def lease(self, grant: LeaseGrant) -> list[TaskAssignment]:
        capabilities, types = grant.capabilities, grant.task_types
        rows = self.db.execute(
            sqlite_lease_sql(len(capabilities), None if types is None else len(types)),
            [grant.assigned, grant.worker_id, grant.expires_at, grant.now, grant.queued, grant.now, *(types or ()),
             *capabilities, grant.limit],
        ).fetchall()
        return _best_first((i, w, t, json.loads(p), pr, f, e, a, None if s is None else json.loads(s), k)
                           for i, w, t, p, pr, f, e, a, s, k in rows)

    async def tasks_of_workflows_of(self, task_ids: Sequence[str]) -> Iterable[TaskTuple]:
        return self.db.execute(
            f"SELECT {', '.join(_TASK_COLUMNS)} FROM tasks WHERE workflow_id IN "
            f"(SELECT workflow_id FROM tasks WHERE id IN {_in(task_ids)})", list(task_ids)).fetchall()

    async def workers(self, worker_ids: Sequence[str]) -> list[WorkerSlots]:
        rows = self.db.execute(f"SELECT {', '.join(_WORKER_COLUMNS)} FROM workers WHERE id IN {_in(worker_ids)}",
                               list(worker_ids)).fetchall()
        return [WorkerSlots(i, st, r, m, json.loads(caps), inc, None if types is None else json.loads(types))
                for i, st, r, m, caps, inc, types in rows]

    async def workflows(self, workflow_ids: Sequence[str]) -> Iterable[WorkflowTuple]:
        return self.db.execute(f"SELECT id, status FROM workflows WHERE id IN {_in(workflow_ids)}",
                               list(workflow_ids)).fetchall()

    async def update_tasks(self, columns: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
        encoded = [[json.dumps(row[c]) if c in _JSON_TASK_COLUMNS else row[c] for c in columns] + [row["id"]]
                   for row in rows]
        self.db.executemany(f"UPDATE tasks SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ?", encoded)

    async def update_workflows(self, rows: list[tuple[str, str, float]]) -> None:
        self.db.executemany("UPDATE workflows SET status = ?, updated_at = ? WHERE id = ?",
                            [(s, t, i) for i, s, t in rows])

    async def update_workers(self, rows: list[tuple[str, str, int]]) -> None:
        self.db.executemany("UPDATE workers SET status = ?, running = ? WHERE id = ?", [(s, n, i) for i, s, n in rows])

    async def insert_events(self, rows: list[dict[str, Any]]) -> Iterable[EventKey]:
        values = [v for row in rows for v in (row["workflow_id"], row["task_id"], row["type"], row["time"],
                                              json.dumps(row["payload"]))]
        placeholders = ", ".join([_in(_EVENT_COLUMNS)] * len(rows))
        return self.db.execute(f"INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) VALUES {placeholders} "
                               "RETURNING id, workflow_id, task_id, type", values).fetchall()

    async def outcomes(self, task_ids: Sequence[str]) -> dict[str, TaskOutcome]:
        rows = self.db.execute(f"SELECT id, result, error FROM tasks WHERE id IN {_in(task_ids)}",
                               list(task_ids)).fetchall()
        return {i: (None if r is None else json.loads(r), None if e is None else json.loads(e)) for i, r, e in rows}

    async def retry_overrides(self, task_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        rows = self.db.execute(f"SELECT id, retry FROM tasks WHERE id IN {_in(task_ids)} AND retry IS NOT NULL",
                               list(task_ids)).fetchall()
        return {i: json.loads(r) for i, r in rows if r is not None}
