"""The durable schema (issue 3 §4): workflows, tasks, task requirements and dependencies, workers, events, runs.

Times are float seconds since the epoch so SQLite and PostgreSQL store them alike. Status
columns hold the spec machines' state names (`task_lifecycle`, `worker_lifecycle`,
`workflow_lifecycle`); only the store writes them, always through a machine transition.

``tasks.sort_key`` implements priority with aging as an indexable column: a task of priority
``p`` enqueued at ``t`` is served before one of priority ``q`` enqueued at ``s`` iff
``t - p*A < s - q*A`` (``A`` = ``LeasePolicy.aging_interval_s``), i.e. waiting ``A`` seconds
is worth one priority level. Leasing is then an ordered index scan, whatever the queue length.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Table
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from spec.decisions.task_graph import FailurePolicy

ID_LENGTH = 128


class Base(DeclarativeBase):
    pass


class WorkflowRow(Base):
    __tablename__ = "workflows"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32), index=True)
    priority: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    #: `spec.decisions.task_graph.FailurePolicy` of a multi-task workflow (moot for one task).
    failure_policy: Mapped[str] = mapped_column(String(32), default=FailurePolicy.FAIL_FAST.value,
                                                server_default=FailurePolicy.FAIL_FAST.value)


class TaskRow(Base):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_status_sort_key", "status", "sort_key"),
        Index("ix_tasks_lease_worker", "lease_worker"),
    )

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"), index=True)
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(Integer)
    enqueued_at: Mapped[float] = mapped_column(Float)
    sort_key: Mapped[float] = mapped_column(Float)
    required_capabilities: Mapped[list[str]] = mapped_column(JSON)
    lease_worker: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    lease_expires_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    fencing_token: Mapped[int] = mapped_column(Integer, default=0)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    progress_step: Mapped[str] = mapped_column(String(200), default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    saved_state: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[float] = mapped_column(Float)
    #: A retried task is not leased before this time (`spec.decisions.task_retry`); 0 = at once.
    not_before: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    #: The submission's own `TaskRetryPolicy` fields (snake_case), over the orchestrator's; None = none.
    retry: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True, default=None)
    #: The task's id in its multi-task workflow's submission (``tasks[].id``); null for a one-task workflow.
    key: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)


class TaskRequirementRow(Base):
    """One required capability of one task; lets capability matching stay plain SQL."""

    __tablename__ = "task_requirements"

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    capability: Mapped[str] = mapped_column(String(128), primary_key=True)


class TaskDependencyRow(Base):
    """Task `task_id` runs after `depends_on` completed (both of workflow `workflow_id`).

    Indexed by workflow: a report's batch loads the edges of the workflows it touches in one
    indexed query (`runtime.store.task_graphs.stored_graphs`) and the dependents a completion
    releases are looked up in memory, so no release scans the tasks or this table.
    """

    __tablename__ = "task_dependencies"
    __table_args__ = (Index("ix_task_dependencies_workflow_id", "workflow_id"),)

    task_id: Mapped[str] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    depends_on: Mapped[str] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(ForeignKey("workflows.id"))


class WorkerRow(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    capabilities: Mapped[list[str]] = mapped_column(JSON)
    hostname: Mapped[str] = mapped_column(String(255), default="")
    max_concurrency: Mapped[int] = mapped_column(Integer)
    running: Mapped[int] = mapped_column(Integer, default=0)
    health: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_heartbeat: Mapped[float] = mapped_column(Float)
    registered_at: Mapped[float] = mapped_column(Float)
    #: Bumped when a process registers again under the same id: each incarnation is its own
    #: `worker_lifecycle` instance in traces (``worker:<id>``, then ``worker:<id>~2``, ...).
    incarnation: Mapped[int] = mapped_column(Integer, default=1)
    #: SHA-256 of the worker's own bearer token (`runtime.orchestrator.credentials`); never the token.
    token_digest: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)
    #: The task types this worker has handlers for; None = it did not say, and is offered any type.
    task_types: Mapped[list[str] | None] = mapped_column(JSON, nullable=True, default=None)


class EventRow(Base):
    """The per-workflow event log; ids increase, so a WebSocket client resumes after its last id."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_workflow_id_id", "workflow_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    task_id: Mapped[str | None] = mapped_column(String(ID_LENGTH), nullable=True)
    type: Mapped[str] = mapped_column(String(32))
    time: Mapped[float] = mapped_column(Float)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)


class RunRow(Base):
    """One orchestrator process on this database; an unfinished run means the last one crashed."""

    __tablename__ = "orchestrator_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[float] = mapped_column(Float)
    stopped_at: Mapped[float | None] = mapped_column(Float, nullable=True)


#: The tables themselves, for set-based Core statements on hot paths (`runtime.store.reports`).
TASKS = cast(Table, TaskRow.__table__)
TASK_REQUIREMENTS = cast(Table, TaskRequirementRow.__table__)
TASK_DEPENDENCIES = cast(Table, TaskDependencyRow.__table__)
WORKERS = cast(Table, WorkerRow.__table__)
WORKFLOWS = cast(Table, WorkflowRow.__table__)
EVENTS = cast(Table, EventRow.__table__)
