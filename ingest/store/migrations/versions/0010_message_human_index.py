"""A ticket's mail by direction and whether it was automatic, read from the index alone: the
digest, stats and the monthly review count only tickets a person wrote in on (digest_queries.HUMAN),
an EXISTS each ticket that otherwise reads the message rows themselves

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 02:30:00
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_message_ticket_human", "message", ["ticket_id", "direction", "auto_submitted"]
    )


def downgrade() -> None:
    op.drop_index("ix_message_ticket_human", table_name="message")
