"""Initial schema: workflows, tasks, task_requirements, workers, events, orchestrator_runs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_workflows_status", "workflows", ["status"])
    op.create_table(
        "tasks",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("workflow_id", sa.String(128), sa.ForeignKey("workflows.id"), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("enqueued_at", sa.Float, nullable=False),
        sa.Column("sort_key", sa.Float, nullable=False),
        sa.Column("required_capabilities", sa.JSON, nullable=False),
        sa.Column("lease_worker", sa.String(128), nullable=True),
        sa.Column("lease_expires_at", sa.Float, nullable=True),
        sa.Column("fencing_token", sa.Integer, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("progress", sa.Float, nullable=False),
        sa.Column("progress_step", sa.String(200), nullable=False),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("saved_state", sa.JSON, nullable=True),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_tasks_workflow_id", "tasks", ["workflow_id"])
    op.create_index("ix_tasks_status_sort_key", "tasks", ["status", "sort_key"])
    op.create_index("ix_tasks_lease_worker", "tasks", ["lease_worker"])
    op.create_table(
        "task_requirements",
        sa.Column("task_id", sa.String(128), sa.ForeignKey("tasks.id"), primary_key=True),
        sa.Column("capability", sa.String(128), primary_key=True),
    )
    op.create_table(
        "workers",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("capabilities", sa.JSON, nullable=False),
        sa.Column("hostname", sa.String(255), nullable=False),
        sa.Column("max_concurrency", sa.Integer, nullable=False),
        sa.Column("running", sa.Integer, nullable=False),
        sa.Column("health", sa.JSON, nullable=False),
        sa.Column("last_heartbeat", sa.Float, nullable=False),
        sa.Column("registered_at", sa.Float, nullable=False),
        sa.Column("incarnation", sa.Integer, nullable=False),
    )
    op.create_index("ix_workers_status", "workers", ["status"])
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("workflow_id", sa.String(128), nullable=False),
        sa.Column("task_id", sa.String(128), nullable=True),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("time", sa.Float, nullable=False),
        sa.Column("payload", sa.JSON, nullable=False),
    )
    op.create_index("ix_events_workflow_id_id", "events", ["workflow_id", "id"])
    op.create_table(
        "orchestrator_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("stopped_at", sa.Float, nullable=True),
    )


def downgrade() -> None:
    for table in ("orchestrator_runs", "events", "workers", "task_requirements", "tasks", "workflows"):
        op.drop_table(table)
