"""outbox: an index on created_at, so the daily limit reads the last day, not the whole outbox

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 23:00:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_created_at", "outbox", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_created_at", table_name="outbox")
