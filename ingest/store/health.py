"""What `gongdan status` reads of the database: each mailbox's state and the outbox's replies by
state and age (SPEC §11). Whether that is healthy is ingest.desk.health's to say."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ingest.store.models import MailboxState, Message, Outbox


@dataclass(frozen=True)
class MailboxRecord:
    """A MailboxState row: a mailbox's (or the outbox sending's) last cycle and where it is."""

    name: str
    uidvalidity: int | None
    last_uid: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


@dataclass(frozen=True)
class OutboxRecord:
    """The outbox as the health report counts it."""

    per_state: dict[str, int]  # replies per state (queued, sending, failed, sent, bounced)
    oldest_failure: datetime | None  # when the oldest failed reply was queued
    failing_message_id: str | None  # the first reply failed and queued before `failing_before`
    failing_error: str | None  # and its last error
    waiting: int  # replies waiting past their first retry
    oldest_waiting: datetime | None  # when the oldest of those was queued
    bounced: int  # replies bounced since `bounced_since`


_STATE_COLUMNS = (
    MailboxState.name,
    MailboxState.uidvalidity,
    MailboxState.last_uid,
    MailboxState.last_success_at,
    MailboxState.last_error,
    MailboxState.last_error_at,
)


def mailbox_records(conn: Connection) -> dict[str, MailboxRecord]:
    """Every MailboxState row by name."""
    return {
        row.name: MailboxRecord(**row._mapping) for row in conn.execute(select(*_STATE_COLUMNS))
    }


def _past_first_retry(due_before: datetime):
    """A reply not sent yet and not given up that has either been tried already (a failure, or
    the server could not be reached) or has been due since before `due_before`."""
    return (
        Outbox.state.in_(("queued", "failed"))
        & Outbox.next_attempt_at.is_not(None)
        & ((Outbox.attempts >= 1) | (Outbox.next_attempt_at < due_before))
    )


def outbox_record(
    conn: Connection, failing_before: datetime, due_before: datetime, bounced_since: datetime
) -> OutboxRecord:
    """The outbox's replies per state; the first failed one queued before `failing_before`; those
    tried already or due since before `due_before`; those bounced since `bounced_since`."""
    per_state = dict(conn.execute(select(Outbox.state, func.count()).group_by(Outbox.state)).all())
    oldest_failure = conn.execute(
        select(func.min(Outbox.created_at)).where(Outbox.state == "failed")
    ).scalar()
    failing = conn.execute(
        select(Outbox.message_id, Outbox.last_error)
        .where(Outbox.state == "failed", Outbox.created_at < failing_before)
        .order_by(Outbox.id)
        .limit(1)
    ).first()
    waiting, oldest_waiting = conn.execute(
        select(func.count(), func.min(Outbox.created_at)).where(_past_first_retry(due_before))
    ).one()
    bounced = conn.execute(
        select(func.count()).where(Outbox.state == "bounced", Outbox.bounced_at >= bounced_since)
    ).scalar_one()
    return OutboxRecord(
        per_state=per_state,
        oldest_failure=oldest_failure,
        failing_message_id=failing.message_id if failing else None,
        failing_error=failing.last_error if failing else None,
        waiting=waiting,
        oldest_waiting=oldest_waiting,
        bounced=bounced,
    )


def unreadable_since(conn: Connection, since: datetime) -> tuple[int, str | None]:
    """Emails received since `since` that were kept unreadable (SPEC §6b), and the newest one's
    error."""
    # Unreadable mail has no ticket: the ticket_id index finds it without reading every message.
    kept = (
        Message.ticket_id.is_(None),
        Message.parse_error.is_not(None),
        Message.received_at >= since,
    )
    count = conn.execute(select(func.count()).where(*kept)).scalar_one()
    last = conn.execute(
        select(Message.parse_error).where(*kept).order_by(Message.id.desc()).limit(1)
    ).scalar()
    return count, last
