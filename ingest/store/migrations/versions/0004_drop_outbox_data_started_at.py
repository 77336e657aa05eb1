"""outbox: drop data_started_at, a delivery marker nothing reads any more

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 18:00:00
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite copies the table without the column (no table refers to the outbox);
    # PostgreSQL drops it in place.
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("data_started_at")


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("data_started_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True)
        )
