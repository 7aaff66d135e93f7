"""Per-worker credentials: the SHA-256 digest of each worker's own bearer token.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Workers registered before this revision have no token: they register again (401 -> register).
    with op.batch_alter_table("workers") as batch:
        batch.add_column(sa.Column("token_digest", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("token_digest")
