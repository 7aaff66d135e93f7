"""Workflows of several tasks (issue 12): task keys, failure policies, and the task_dependencies table.

Revision ID: 0004_task_dependencies
Revises: 0003_task_retries
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_task_dependencies"
down_revision = "0003_task_retries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Workflows stored before this revision have one task each: their policy is moot, fail_fast.
    with op.batch_alter_table("workflows") as batch:
        batch.add_column(sa.Column("failure_policy", sa.String(32), nullable=False, server_default="fail_fast"))
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("key", sa.String(64), nullable=True))
    op.create_table(
        "task_dependencies",
        sa.Column("task_id", sa.String(128), sa.ForeignKey("tasks.id"), primary_key=True),
        sa.Column("depends_on", sa.String(128), sa.ForeignKey("tasks.id"), primary_key=True),
        sa.Column("workflow_id", sa.String(128), sa.ForeignKey("workflows.id"), nullable=False),
    )
    op.create_index("ix_task_dependencies_workflow_id", "task_dependencies", ["workflow_id"])


def downgrade() -> None:
    op.drop_index("ix_task_dependencies_workflow_id", table_name="task_dependencies")
    op.drop_table("task_dependencies")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("key")
    with op.batch_alter_table("workflows") as batch:
        batch.drop_column("failure_policy")
