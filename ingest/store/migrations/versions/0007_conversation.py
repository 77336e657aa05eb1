"""the conversation after the first reply (SPEC §13): who a ticket waits on, related tickets,
closing and merging

ticket.waiting_on: "team" (an operator's follow-up waits for an engineer), "operator" (we asked
  for information) or NULL.
ticket.related: numbers of tickets this one names (a later ticket on a long-resolved problem).
ticket.closed_reason: why a `closed` ticket was closed (merged, automatic mail, a person's reason).
ticket.merged_into: the ticket a merged one now lives in.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05 19:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMNs: a batch would copy the ticket table, which foreign keys forbid.
    op.add_column("ticket", sa.Column("waiting_on", sa.String(), nullable=True))
    op.add_column(
        "ticket", sa.Column("related", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
    )
    op.add_column("ticket", sa.Column("closed_reason", sa.Text(), nullable=True))
    op.add_column("ticket", sa.Column("merged_into", sa.Integer(), nullable=True))
    op.create_index("ix_ticket_waiting_on", "ticket", ["waiting_on"])
    # Tickets waiting for information wait on the operator.
    op.execute("UPDATE ticket SET waiting_on = 'operator' WHERE status = 'waiting_info'")


def downgrade() -> None:
    op.drop_index("ix_ticket_waiting_on", table_name="ticket")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("merged_into")
        batch.drop_column("closed_reason")
        batch.drop_column("related")
        batch.drop_column("waiting_on")
