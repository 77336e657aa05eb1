"""the mail's own time, bounced replies, stop codes without a meaning

message.sent_at: when the mail says it was sent (its Date, when plausible), else when it arrived.
outbox.bounced_at: when a delivery failure report about the reply came back.
stopcodehit.meaning: NULL for a brand that has no table (SPEC §5), no longer "".

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 10:00:00
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_MESSAGE = sa.table(
    "message",
    sa.column("id", sa.Integer),
    sa.column("date", sqlmodel.sql.sqltypes.UTCDateTime()),
    sa.column("received_at", sqlmodel.sql.sqltypes.UTCDateTime()),
    sa.column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime()),
)
_HIT = sa.table("stopcodehit", sa.column("meaning", sa.String))
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
SKEW = timedelta(days=1)


def upgrade() -> None:
    # Plain ADD COLUMNs: a batch would copy the message table, which foreign keys forbid.
    op.add_column("message", sa.Column("sent_at", sqlmodel.sql.sqltypes.UTCDateTime()))
    op.add_column("outbox", sa.Column("bounced_at", sqlmodel.sql.sqltypes.UTCDateTime()))
    conn = op.get_bind()
    conn.execute(_MESSAGE.update().values(sent_at=_MESSAGE.c.received_at))
    rows = [
        {"mid": mid, "at": date}
        for mid, date, received in conn.execute(
            sa.select(_MESSAGE.c.id, _MESSAGE.c.date, _MESSAGE.c.received_at).where(
                _MESSAGE.c.date.is_not(None)
            )
        )
        if _plausible(date, received)
    ]
    if rows:
        conn.execute(
            _MESSAGE.update()
            .where(_MESSAGE.c.id == sa.bindparam("mid"))
            .values(sent_at=sa.bindparam("at", type_=sqlmodel.sql.sqltypes.UTCDateTime())),
            rows,
        )
    # Nothing refers to stopcodehit: SQLite may copy it to drop NOT NULL.
    with op.batch_alter_table("stopcodehit", schema=None) as batch_op:
        batch_op.alter_column(
            "meaning", existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=True
        )
    conn.execute(_HIT.update().where(_HIT.c.meaning == "").values(meaning=None))


def _plausible(date: datetime, received: datetime) -> bool:
    date, received = (d if d.tzinfo else d.replace(tzinfo=UTC) for d in (date, received))
    return EARLIEST <= date <= received + SKEW


def downgrade() -> None:
    op.get_bind().execute(_HIT.update().where(_HIT.c.meaning.is_(None)).values(meaning=""))
    with op.batch_alter_table("stopcodehit", schema=None) as batch_op:
        batch_op.alter_column(
            "meaning", existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False
        )
    op.drop_column("outbox", "bounced_at")
    op.drop_column("message", "sent_at")
