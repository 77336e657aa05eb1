"""outbox: `recipient` holds the mailbox the daily limit counts (the reply's address with its
+tag folded, as reading.addresses.mailbox_of gives it), indexed with created_at: a batch counts
its senders' replies of the last day by index lookups, not by matching a +tag pattern for each
sender against every reply of the day

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 05:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _mailbox(recipient: str) -> str:
    """mailbox_of on a stored (already canonical) address, as of this revision."""
    local, _, domain = recipient.rpartition("@")
    return f"{local.split('+', 1)[0] or local}@{domain}"


def upgrade() -> None:
    outbox = sa.table("outbox", sa.column("id", sa.Integer), sa.column("recipient", sa.String))
    conn = op.get_bind()
    tagged = conn.execute(
        sa.select(outbox.c.id, outbox.c.recipient).where(outbox.c.recipient.like("%+%@%"))
    ).all()
    if tagged:
        conn.execute(
            outbox.update()
            .where(outbox.c.id == sa.bindparam("row_id"))
            .values(recipient=sa.bindparam("mailbox")),
            [{"row_id": row_id, "mailbox": _mailbox(r)} for row_id, r in tagged],
        )
    op.drop_index("ix_outbox_recipient", table_name="outbox")
    op.create_index("ix_outbox_recipient_created_at", "outbox", ["recipient", "created_at"])


def downgrade() -> None:
    # The folded +tags stay folded: the older code folds them again when it counts.
    op.drop_index("ix_outbox_recipient_created_at", table_name="outbox")
    op.create_index("ix_outbox_recipient", "outbox", ["recipient"])
