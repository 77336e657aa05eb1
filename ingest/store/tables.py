"""The tables a poll with no mail reads and writes, as SQLAlchemy Core tables: cron runs that poll
every minute, and loading the ORM classes of ingest.store.models (SQLModel, pydantic and
SQLAlchemy's ORM) would cost it more than its work (SPEC §9, issue 22).

These describe the same tables as the models, column for column where they name a column
(tests/test_store.py checks they agree): mailbox state and the outbox whole, and the columns of
`ticket` and `message` that the follow-up query and the IMAP leftovers read. They are for
statements only; the migrations in ingest/store/migrations create the tables.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    Interval,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)


class UTCDateTime(TypeDecorator):
    """A time as the models store it (SQLModel's UTCDateTime): aware, written in UTC, read back
    in UTC (SQLite keeps no zone, so its naive values are UTC)."""

    impl = DateTime
    cache_ok = True

    def __init__(self) -> None:
        super().__init__(timezone=True)

    def coerce_compared_value(self, op, value):
        return Interval() if isinstance(value, timedelta) else self

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("a stored time must be aware (with its zone)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.utcoffset() is None else value.astimezone(UTC)


metadata = MetaData()

mailbox_state = Table(
    "mailboxstate",
    metadata,
    Column("name", String, primary_key=True),
    Column("uidvalidity", Integer),
    Column("last_uid", Integer, nullable=False),
    Column("last_success_at", UTCDateTime()),
    Column("last_error", Text),
    Column("last_error_at", UTCDateTime()),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer),
    Column("caused_by", Integer),
    Column("kind", String, nullable=False),
    Column("message_id", String, nullable=False),
    Column("recipient", String, nullable=False),
    Column("to_addresses", JSON, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("state", String, nullable=False),
    Column("claimed_at", UTCDateTime()),
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UTCDateTime()),
    Column("last_error", Text),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
    Column("bounced_at", UTCDateTime()),
)

# Only the columns read here: the tickets that may be due a reminder or the hold.
ticket = Table(
    "ticket",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("status", String, nullable=False),
    Column("complete", Boolean, nullable=False),
)

# Only the columns read here: which IMAP leftovers were stored as unreadable.
message = Table(
    "message",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("mailbox", String, nullable=False),
    Column("uidvalidity", Integer),
    Column("uid", Integer),
    Column("parse_error", Text),
)
