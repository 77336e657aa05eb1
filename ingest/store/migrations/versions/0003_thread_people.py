"""thread people on tickets, and duplicates by Message-ID and sender

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TICKET = sa.table(
    "ticket",
    sa.column("id", sa.Integer),
    sa.column("operator_address", sa.String),
    sa.column("thread_addresses", sa.JSON),
)
_WHERE = sa.text("message_id != ''")


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite allows it with a constant default): a batch would copy the
    # table, which the messages' foreign keys forbid.
    op.add_column(
        "ticket",
        sa.Column("thread_addresses", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )
    # Tickets already stored: their opener is on the thread. Others who wrote on it were let in
    # by looser rules, so they are not carried over.
    conn = op.get_bind()
    rows = [
        {"tid": ticket_id, "people": [address]}
        for ticket_id, address in conn.execute(
            sa.select(_TICKET.c.id, _TICKET.c.operator_address).where(
                _TICKET.c.operator_address != ""
            )
        )
    ]
    if rows:
        conn.execute(
            _TICKET.update()
            .where(_TICKET.c.id == sa.bindparam("tid"))
            .values(thread_addresses=sa.bindparam("people", type_=sa.JSON)),
            rows,
        )
    op.drop_index("uq_message_message_id", table_name="message")
    op.create_index(
        "uq_message_message_id_sender",
        "message",
        ["message_id", "from_address"],
        unique=True,
        sqlite_where=_WHERE,
        postgresql_where=_WHERE,
    )


def downgrade() -> None:
    op.drop_index("uq_message_message_id_sender", table_name="message")
    op.create_index(
        "uq_message_message_id",
        "message",
        ["message_id"],
        unique=True,
        sqlite_where=_WHERE,
        postgresql_where=_WHERE,
    )
    with op.batch_alter_table("ticket", schema=None) as batch_op:
        batch_op.drop_column("thread_addresses")
