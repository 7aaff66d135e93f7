"""Durable store of the reference runtime: SQLAlchemy 2 (async) on SQLite (the default) or PostgreSQL, Alembic
migrations.

Callers use the repository functions; dialect concerns stay in `runtime.store.database`.
"""

from __future__ import annotations

from runtime.store.changes import Change, ChangeLog
from runtime.store.database import Database, sqlite_url
from runtime.store.event_log import append_event, events_since
from runtime.store.locations import PostgresLocation
from runtime.store.queue import (
    expire_stale_leases,
    interrupt_task,
    lease_next_tasks,
    record_progress,
    requeue_worker_tasks,
    reset_orphaned_tasks,
    submit_workflow,
)
from runtime.store.registry import deregister_worker, mark_silent_workers, record_heartbeat, register_worker
from runtime.store.reports import ReportAnswer, ReportApplied, ReportRefused, apply_report, apply_reports

__all__ = [
    "Change",
    "ChangeLog",
    "Database",
    "PostgresLocation",
    "ReportAnswer",
    "ReportApplied",
    "ReportRefused",
    "append_event",
    "apply_report",
    "apply_reports",
    "deregister_worker",
    "events_since",
    "expire_stale_leases",
    "interrupt_task",
    "lease_next_tasks",
    "mark_silent_workers",
    "record_heartbeat",
    "record_progress",
    "register_worker",
    "requeue_worker_tasks",
    "reset_orphaned_tasks",
    "sqlite_url",
    "submit_workflow",
]
