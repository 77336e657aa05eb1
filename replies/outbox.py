"""The outbox: replies queued in the database with the mail that caused them, until sent."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import bindparam, func, insert, literal_column, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from ingest.rules.threads import mailbox_of
from ingest.store.models import MailboxState, Message, Outbox, utcnow

log = logging.getLogger("gongdan.outbox")

_INSERT_OUTBOX = insert(Outbox.__table__)
_INSERT_MESSAGE = insert(Message.__table__)


def enqueue(
    session: Session,
    *,
    kind: str,
    raw: bytes,
    message_id: str,
    recipient: str,
    ticket_id: int | None,
    caused_by: int | None,
    subject: str,
    from_address: str,
    later: list | None = None,
    now: datetime | None = None,
) -> None:
    """Queue a reply in the caller's transaction, and keep it on its thread as an outgoing message.

    With `later`, the rows are appended to it instead, for insert_queued() to write a batch's
    replies at once, still before that batch's commit. `now` dates the reply (a run acting as of
    another time, `--now`); it is due at once all the same.
    """
    due = utcnow()
    now = now or due
    rows = (
        {
            "ticket_id": ticket_id,
            "caused_by": caused_by,
            "kind": kind,
            "message_id": message_id,
            "recipient": recipient.lower(),
            "to_addresses": [recipient],
            "raw": raw,
            "state": "queued",
            "attempts": 0,
            "next_attempt_at": due,
            "created_at": now,
        },
        {
            "ticket_id": ticket_id,
            "message_id": message_id,
            "in_reply_to": "",
            "references": [],
            "from_address": from_address,
            "to_addresses": [recipient],
            "subject": subject,
            "date": now,
            "text": "",
            "raw": raw,
            "raw_sha256": hashlib.sha256(raw).hexdigest(),
            "size": len(raw),
            "mailbox": "",
            "direction": "out",
            "auto_submitted": True,
            "flags": [kind],
            "received_at": now,
            "sent_at": now,
        },
    )
    if later is None:
        insert_queued(session, [rows])
    else:
        later.append(rows)


def insert_queued(session: Session, queued: list[tuple[dict, dict]]) -> None:
    """Write replies that enqueue() kept for later (two statements for any number of them)."""
    if queued:
        conn = session.connection()
        conn.execute(_INSERT_OUTBOX, [outbox_row for outbox_row, _ in queued])
        conn.execute(_INSERT_MESSAGE, [message_row for _, message_row in queued])


# The replies an operator's mailbox receives, counted against the daily limit (SPEC §6).
REPLY_KINDS = ("ack", "request_info", "reminder", "hold_notice")


def _like(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


_PATTERNS = 16  # tag patterns come in multiples of this: a few statement shapes, each compiled once


@cache
def _replies_since(patterns: int):
    """Replies counted by the mailbox they reach: to `a@x` itself, or to any `a+tag@x` (one
    LIKE pattern each, bound as tag0, tag1, ...)."""
    # `recipient || ''`: the same text, but no index on it, so that the database reads the last
    # day through the created_at index; the recipient index would have it scan the whole outbox
    # (its LIKE patterns cannot use that index), which grows with every reply ever sent.
    recipient = Outbox.recipient.concat(literal_column("''"))
    tagged = [recipient.like(bindparam(f"tag{i}"), escape="/") for i in range(patterns)]
    return (
        select(recipient, func.count())
        .where(
            Outbox.created_at >= bindparam("since"),
            Outbox.kind.in_(REPLY_KINDS),
            or_(recipient.in_(bindparam("mailboxes", expanding=True)), *tagged),
        )
        .group_by(recipient)
    )


def replies_since_each(session: Session, recipients: set[str], since: datetime) -> dict[str, int]:
    """Replies queued since `since` to each recipient's mailbox (the per-sender daily limit;
    `a+1@x` and `a+2@x` count as `a@x`, SPEC §6a): one query for a batch of emails."""
    counts = {mailbox_of(r): 0 for r in recipients}
    if not counts:
        return counts
    tags = [
        f"{_like(local)}+%@{_like(domain)}"
        for local, _, domain in (m.rpartition("@") for m in counts)
        if local
    ]
    if tags:  # padded with repeats of the last: the same statement serves batches of any size
        tags += tags[-1:] * (-len(tags) % _PATTERNS)
    params = {"since": since, "mailboxes": list(counts)}
    params.update((f"tag{i}", tag) for i, tag in enumerate(tags))
    for recipient, n in session.connection().execute(_replies_since(len(tags)), params):
        key = mailbox_of(recipient)
        if key in counts:
            counts[key] += n
    return counts


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 60 * 2 ** max(0, attempts - 1)))


FIRST_RETRY = _backoff(1)  # how long a reply that failed once waits


def retry_at(attempts: int) -> datetime:
    """When a reply that failed `attempts` times is tried again (1 min doubling to 1 hour)."""
    return utcnow() + _backoff(attempts)


def recover_interrupted(conn: Connection) -> int:
    """Under the outbox lock, rows left `sending` belong to a run that stopped (killed, or its
    database went away): queue them again. The one a connection was handing over may have reached
    the server; it goes out again with the same Message-ID (at least once, SPEC §9)."""
    requeued = conn.execute(
        update(Outbox.__table__)
        .where(Outbox.state == "sending")
        .values(state="queued", claimed_at=None)
    ).rowcount
    conn.commit()
    if requeued:
        log.warning(
            "outbox: %d replies left by a run that stopped are sent again (one being "
            "handed over at that moment may reach its recipient twice)",
            requeued,
        )
    return requeued


@dataclass
class DrainReport:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # one line per reply not sent, and `error`
    error: str | None = None  # the outbox could not send at all (DeliveryError.unreachable/held)


DRAIN_STATE = "[outbox]"  # the MailboxState row that remembers the last drain, for `gongdan status`


def record_drain(engine: Engine, error: str | None) -> None:
    """Remember how the last drain ended: success, or the one error that stopped it."""
    table = MailboxState.__table__
    now = utcnow()
    values = (
        {"last_success_at": now}
        if error is None
        else {"last_error": error[:1000], "last_error_at": now}
    )
    with engine.begin() as conn:
        row = update(table).where(MailboxState.name == DRAIN_STATE)
        if not conn.execute(row.values(**values)).rowcount:
            conn.execute(insert(table).values(name=DRAIN_STATE, last_uid=0, **values))


def requeue(session: Session, message_id: str) -> bool:
    """Queue a failed reply again, now (an admin's decision after checking the mail server)."""
    done = (
        session.connection()
        .execute(
            update(Outbox.__table__)
            .where(Outbox.message_id == message_id, Outbox.state == "failed")
            .values(state="queued", next_attempt_at=utcnow(), claimed_at=None)
        )
        .rowcount
    )
    session.commit()
    return bool(done)
