"""The tables a poll with no mail, the follow-up step and the digest read and write, as
SQLAlchemy Core tables: cron runs that poll every minute, and loading the ORM classes of
ingest.store.models (SQLModel, pydantic and SQLAlchemy's ORM) would cost them more than their
work (SPEC §9, §12, issue 22).

These describe the same tables as the models, column for column (tests/test_store.py checks they
agree): mailbox state, the outbox, tickets, messages, stop codes, ticket events and digests. They
are for statements only; the migrations in ingest/store/migrations create the tables.
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
    func,
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

ticket = Table(
    "ticket",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("subject", Text, nullable=False),
    Column("template", String, nullable=False),
    Column("status", String, nullable=False),
    Column("engineer", String),
    Column("operator_address", String, nullable=False),
    Column("thread_addresses", JSON, nullable=False),
    Column("operator", String),
    Column("station", String),
    Column("phone", String),
    Column("order_no", String),
    Column("pile_no", String),
    Column("network_status", Text),
    Column("recent_faults", Text),
    Column("abnormal_bill", String),
    Column("abnormal_status", String),
    Column("description", Text),
    Column("operator_findings", Text),
    Column("tracking", Text),
    Column("analysis", Text),
    Column("resolution", Text),
    Column("order_time", DateTime),
    Column("missing", JSON, nullable=False),
    Column("invalid", JSON, nullable=False),
    Column("complete", Boolean, nullable=False),
    Column("waiting_on", String),
    Column("related", JSON, nullable=False),
    Column("closed_reason", Text),
    Column("merged_into", Integer),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

message = Table(
    "message",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer),
    Column("message_id", String, nullable=False),
    Column("in_reply_to", String, nullable=False),
    Column("references", JSON, nullable=False),
    Column("from_address", String, nullable=False),
    Column("to_addresses", JSON, nullable=False),
    Column("subject", Text, nullable=False),
    Column("date", UTCDateTime()),
    Column("text", Text, nullable=False),
    Column("raw", LargeBinary, nullable=False),
    Column("raw_sha256", String, nullable=False),
    Column("size", Integer, nullable=False),
    Column("mailbox", String, nullable=False),
    Column("uidvalidity", Integer),
    Column("uid", Integer),
    Column("direction", String, nullable=False),
    Column("auto_submitted", Boolean, nullable=False),
    Column("flags", JSON, nullable=False),
    Column("parse_error", Text),
    Column("fields_from_images", JSON, nullable=False),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime()),
)

# When a mail was written: its Date when plausible, else its arrival (times.mail_time). The same
# expression as the models' ix_message_written index (migration 0009), so that a period's mail is
# found through it without reading every message.
WRITTEN = func.coalesce(message.c.sent_at, message.c.received_at)

stop_code_hit = Table(
    "stopcodehit",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, nullable=False),
    Column("message_db_id", Integer, nullable=False),
    Column("vendor", String, nullable=False),
    Column("code", Integer, nullable=False),
    Column("meaning", String),
    Column("known", Boolean, nullable=False),
)

ticket_event = Table(
    "ticketevent",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("kind", String, nullable=False),
    Column("by", String, nullable=False),
    Column("detail", JSON, nullable=False),
)

digest = Table(
    "digest",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("period_start", UTCDateTime(), nullable=False),
    Column("period_end", UTCDateTime(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
