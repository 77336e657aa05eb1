"""The database tables: tickets, their messages, stop codes, history, mailbox state and outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlmodel import Field, SQLModel

# The stored times' helpers, here too for the modules that read the models.
from ingest.store.times import as_utc as as_utc
from ingest.store.times import iso as iso
from ingest.store.times import mail_time as mail_time


class Ticket(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    subject: str = Field(default="", sa_column=Column(Text, nullable=False))
    template: str = "none"
    status: str = Field(default="waiting_info", index=True)
    engineer: str | None = None
    operator_address: str = Field(default="", index=True)
    # Who is on the thread (SPEC §6a): the address that opened it and those accepted on it since.
    thread_addresses: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    operator: str | None = Field(default=None, index=True)
    station: str | None = None
    phone: str | None = None
    order_no: str | None = Field(default=None, index=True)
    pile_no: str | None = None
    network_status: str | None = Field(default=None, sa_column=Column(Text))
    recent_faults: str | None = Field(default=None, sa_column=Column(Text))
    abnormal_bill: str | None = None
    abnormal_status: str | None = None
    description: str | None = Field(default=None, sa_column=Column(Text))
    operator_findings: str | None = Field(default=None, sa_column=Column(Text))
    tracking: str | None = Field(default=None, sa_column=Column(Text))
    analysis: str | None = Field(default=None, sa_column=Column(Text))
    resolution: str | None = Field(default=None, sa_column=Column(Text))
    # The wall-clock time written in a platform order number (China time), kept as written.
    order_time: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=False)))
    missing: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    invalid: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    complete: bool = False
    # SPEC §13: "team" (an operator's follow-up waits for an engineer), "operator" (we asked for
    # information) or None; the tickets this one names; why and into what a ticket was closed.
    waiting_on: str | None = Field(default=None, index=True)
    related: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    closed_reason: str | None = Field(default=None, sa_column=Column(Text))
    merged_into: int | None = None
    created_at: datetime = Field(index=True)
    updated_at: datetime = Field()


class Message(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("raw_sha256", name="uq_message_raw_sha256"),
        # One stored copy per Message-ID and sender: another sender reusing a Message-ID is a
        # different mail (SPEC §6a). Mail without one is told apart by its bytes.
        Index(
            "uq_message_message_id_sender",
            "message_id",
            "from_address",
            unique=True,
            sqlite_where=text("message_id != ''"),
            postgresql_where=text("message_id != ''"),
        ),
        Index("ix_message_mailbox_uid", "mailbox", "uidvalidity", "uid"),
        # A ticket's mail a person sent us, from the index alone (digest_queries.HUMAN).
        Index("ix_message_ticket_human", "ticket_id", "direction", "auto_submitted"),
    )
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    message_id: str = ""
    in_reply_to: str = ""
    references: list = Field(
        default_factory=list, sa_column=Column("references", JSON, nullable=False)
    )
    from_address: str = ""
    to_addresses: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    subject: str = Field(default="", sa_column=Column(Text, nullable=False))
    date: datetime | None = None
    text: str = Field(default="", sa_column=Column(Text, nullable=False))
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    raw_sha256: str = ""
    size: int = 0
    mailbox: str = ""
    uidvalidity: int | None = None
    uid: int | None = None
    direction: str = "in"  # "in" from the mailbox, "out" a reply we sent
    auto_submitted: bool = False
    flags: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    parse_error: str | None = Field(default=None, sa_column=Column(Text))
    # Fields read from the email's screenshots: key -> the image's file name (SPEC §14).
    fields_from_images: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    received_at: datetime = Field()  # when it reached us
    # When it was sent: its Date when plausible (mail_time), else received_at. A ticket's
    # created_at is its first mail's sent_at, so mail imported late keeps its age.
    sent_at: datetime | None = None


# When a mail was written: its Date when plausible, else its arrival (mail_time); indexed
# (migration 0009) so that a period's mail is found without reading every message.
WRITTEN = func.coalesce(Message.__table__.c.sent_at, Message.__table__.c.received_at)
Index("ix_message_written", WRITTEN)


class StopCodeHit(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    message_db_id: int = Field(foreign_key="message.id")
    vendor: str
    code: int
    meaning: str | None = None  # None: a brand that has no table (SPEC §5)
    known: bool


class TicketEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int = Field(foreign_key="ticket.id", index=True)
    at: datetime = Field(index=True)  # a period's events (migration 0009)
    kind: str  # created, field_set, field_changed, completed, status_changed, assigned, note
    by: str = ""
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class MailboxState(SQLModel, table=True):
    name: str = Field(primary_key=True)
    uidvalidity: int | None = None
    last_uid: int = 0
    last_success_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_error_at: datetime | None = None


class Outbox(SQLModel, table=True):
    # The daily limit: a batch's senders' replies of the last day, by index (migration 0011).
    __table_args__ = (Index("ix_outbox_recipient_created_at", "recipient", "created_at"),)

    id: int | None = Field(default=None, primary_key=True)
    ticket_id: int | None = Field(default=None, foreign_key="ticket.id", index=True)
    caused_by: int | None = Field(default=None, foreign_key="message.id")
    kind: str  # ack, request_info, resolved_notice, digest
    message_id: str = Field(index=True)
    # The mailbox of the operator answered, its +tag folded (mailbox_of): what the daily limit
    # counts; "" for a mail on no thread.
    recipient: str = ""
    to_addresses: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    raw: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    # queued -> sending -> sent; a failed attempt -> failed, retried at next_attempt_at; a sent
    # reply whose delivery failure report came back -> bounced (its reason in last_error); a
    # reply the daily limit withheld -> held (why in last_error) until a person releases it.
    state: str = Field(default="queued", index=True)
    claimed_at: datetime | None = None
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    # Indexed: the daily limit counts the replies of the last day, whatever the outbox's age.
    created_at: datetime = Field(index=True)
    sent_at: datetime | None = None
    bounced_at: datetime | None = None


class Digest(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    period_start: datetime
    period_end: datetime
    created_at: datetime = Field()
