"""ticketevent.at and a message's own time indexed: the digest and the monthly review read one
period of a long history (the engineers' answers in it, its resolutions), not all of it

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_ticketevent_at", "ticketevent", ["at"])
    # When a mail was written (models.WRITTEN): the expression itself, as the queries say it.
    # SQLAlchemy does not reflect an index on an expression: a batch migration that copies the
    # message table (SQLite) must create this one again.
    op.create_index("ix_message_written", "message", [sa.text("coalesce(sent_at, received_at)")])


def downgrade() -> None:
    op.drop_index("ix_message_written", table_name="message")
    op.drop_index("ix_ticketevent_at", table_name="ticketevent")
