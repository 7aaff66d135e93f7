"""Task retries and routing by task type: a retried task's not-before time and its own
retry fields; the task types each worker handles.

Revision ID: 0003_task_retries
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_task_retries"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Tasks queued before this revision are leasable at once and follow the orchestrator's policy;
    # workers registered before it said nothing about types, so they are offered any type.
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("not_before", sa.Float(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("retry", sa.JSON(), nullable=True))
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("task_types", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("task_types")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("retry")
        batch.drop_column("not_before")
