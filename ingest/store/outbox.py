"""The outbox's rows and their whole state machine: queued → sending → sent, or failed (retried
later, or given up), held back, bounced. Every outbox row is inserted here (enqueue), and every
change of state is one of the statements below."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, func, insert, literal_column, select, update
from sqlalchemy.engine import Connection, Engine

from ingest.reading.addresses import mailbox_of
from ingest.store import mailbox_state
from ingest.store.db import PARAMETERS, chunks, parts_by_size
from ingest.store.tables import message as _MESSAGE
from ingest.store.tables import outbox as _OUTBOX

if TYPE_CHECKING:
    from sqlmodel import Session

# SQLAlchemy Core on ingest.store.tables: the sending stage runs at the end of every poll cycle,
# and one with nothing to send loads no ORM (issue 22).

log = logging.getLogger("gongdan.outbox")

_INSERT_OUTBOX = insert(_OUTBOX)  # the one place outbox rows are inserted: enqueue*
_INSERT_MESSAGE = insert(_MESSAGE)  # a reply kept on its ticket's thread


@dataclass(frozen=True)
class Outgoing:
    """One mail to queue: a reply on a ticket's thread, or a mail on none (a digest)."""

    kind: str  # ack, request_info, reminder, hold_notice, resolved_notice, digest
    raw: bytes
    message_id: str
    to: list[str]
    subject: str
    from_address: str
    ticket_id: int | None = None
    caused_by: int | None = None  # the stored email it answers
    on_thread: bool = True  # kept on its ticket's thread as an outgoing message; not a digest
    held: str = ""  # why it is held back (the daily limit): kept until a person releases it


def rows_of(mail: Outgoing, now: datetime) -> tuple[dict, dict | None]:
    """The outbox row of `mail`, queued and due at `now`, and the outgoing message that keeps it
    on its ticket's thread (None for a mail on no thread)."""
    outbox_row = {
        "ticket_id": mail.ticket_id,
        "caused_by": mail.caused_by,
        "kind": mail.kind,
        "message_id": mail.message_id,
        # The mailbox the daily limit counts (a reply has one recipient).
        "recipient": mailbox_of(mail.to[0]) if mail.on_thread else "",
        "to_addresses": list(mail.to),
        "raw": mail.raw,
        "state": "held" if mail.held else "queued",
        "attempts": 0,
        "next_attempt_at": None if mail.held else now,
        "last_error": mail.held or None,
        "created_at": now,
    }
    if not mail.on_thread:
        return outbox_row, None
    message_row = {
        "ticket_id": mail.ticket_id,
        "message_id": mail.message_id,
        "in_reply_to": "",
        "references": [],
        "from_address": mail.from_address,
        "to_addresses": list(mail.to),
        "subject": mail.subject,
        "date": now,
        "text": "",
        "raw": mail.raw,
        "raw_sha256": hashlib.sha256(mail.raw).hexdigest(),
        "size": len(mail.raw),
        "mailbox": "",
        "direction": "out",
        "auto_submitted": True,
        "flags": [mail.kind],
        "received_at": now,
        "sent_at": now,
    }
    return outbox_row, message_row


def enqueue(conn: Connection, mail: Outgoing, now: datetime) -> int:
    """Queue `mail` in the transaction open on `conn`, due at once, and return its outbox row."""
    outbox_row, message_row = rows_of(mail, now)
    row_id = conn.execute(_INSERT_OUTBOX, outbox_row).inserted_primary_key[0]
    _keep_on_threads(conn, [message_row])
    return row_id


def enqueue_many(conn: Connection, mails: list[Outgoing], now: datetime) -> None:
    """Queue `mails` in the transaction open on `conn`: two statements for each STATEMENT_BYTES
    (ingest.store.db) of mail, whatever their number. No RETURNING: SQLAlchemy would send one
    INSERT a row to give back their ids in order (936 statements for a 1,000-mail poll)."""
    rows = [rows_of(mail, now) for mail in mails]
    for part in parts_by_size(rows, lambda row: len(row[0]["raw"])):
        conn.execute(_INSERT_OUTBOX, [outbox_row for outbox_row, _ in part])
        _keep_on_threads(conn, [message_row for _, message_row in part])


def _keep_on_threads(conn: Connection, message_rows: list[dict | None]) -> None:
    """The outgoing messages that keep replies on their tickets' threads (None: a mail on no
    thread)."""
    kept = [row for row in message_rows if row is not None]
    if kept:
        conn.execute(_INSERT_MESSAGE, kept)


# The replies an operator's mailbox receives, counted against the daily limit (SPEC §6).
REPLY_KINDS = ("ack", "request_info", "reminder", "hold_notice")


def _counted(since):
    """The conditions of a reply that counts against the daily limit, queued since `since`: a
    reply held back by the limit has not reached anyone."""
    return (
        _OUTBOX.c.created_at >= since,
        _OUTBOX.c.kind.in_(REPLY_KINDS),
        _OUTBOX.c.state != "held",
    )


# Replies to a batch's senders (bound as `mailboxes`) since `since`, per mailbox: through the
# (recipient, created_at) index, a range for each mailbox (the folded +tags are one mailbox).
_REPLIES_SINCE = (
    select(_OUTBOX.c.recipient, func.count())
    .where(
        _OUTBOX.c.recipient.in_(bindparam("mailboxes", expanding=True)),
        *_counted(bindparam("since")),
    )
    .group_by(_OUTBOX.c.recipient)
)


def replies_per_mailbox(conn: Connection, since: datetime) -> Counter:
    """Replies queued since `since`, per mailbox they reach (`a+1@x` and `a+2@x` count as `a@x`):
    one pass over that span of the outbox (its created_at index), for a run that checks the
    daily limit of many mailboxes (remind)."""
    # `recipient || ''`: the same text, but no index on it, so that the database reads the last
    # day through the created_at index; grouping by the column itself, it would walk the
    # (recipient, created_at) index over the whole outbox to save a sort of the day's few rows.
    recipient = _OUTBOX.c.recipient.concat(literal_column("''"))
    rows = conn.execute(
        select(recipient, func.count()).where(*_counted(since), recipient != "").group_by(recipient)
    )
    return Counter(dict(rows.all()))


def replies_since_each(session: Session, recipients: set[str], since: datetime) -> dict[str, int]:
    """Replies queued since `since` to each recipient's mailbox (the per-sender daily limit;
    `a+1@x` and `a+2@x` count as `a@x`, SPEC §6a): one query for a batch of emails (more when
    they name more mailboxes than one bounded statement takes)."""
    counts = {mailbox_of(r): 0 for r in recipients}
    conn = session.connection()
    # Beside the mailboxes: the time, the kinds and the held state.
    for part in chunks(list(counts), PARAMETERS - 2 - len(REPLY_KINDS)):
        for mailbox, n in conn.execute(_REPLIES_SINCE, {"since": since, "mailboxes": part}):
            counts[mailbox] += n
    return counts


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 60 * 2 ** max(0, attempts - 1)))


FIRST_RETRY = _backoff(1)  # how long a reply that failed once waits


def retry_at(attempts: int, now: datetime) -> datetime:
    """When a reply that failed `attempts` times by `now` is tried again (1 min doubling to 1
    hour)."""
    return now + _backoff(attempts)


def recover_interrupted(conn: Connection) -> int:
    """Under the outbox lock, rows left `sending` belong to a run that stopped (killed, or its
    database went away): queue them again. The one a connection was handing over may have reached
    the server; it goes out again with the same Message-ID (at least once, SPEC §9)."""
    requeued = conn.execute(
        update(_OUTBOX).where(_OUTBOX.c.state == "sending").values(state="queued", claimed_at=None)
    ).rowcount
    conn.commit()
    if requeued:
        log.warning(
            "outbox: %d replies left by a run that stopped are sent again (one being "
            "handed over at that moment may reach its recipient twice)",
            requeued,
        )
    return requeued


DRAIN_STATE = "[outbox]"  # the MailboxState row that remembers the last drain, for `gongdan status`


def record_drain(engine: Engine, error: str | None, now: datetime) -> None:
    """Remember how the last drain ended at `now`: success, or the one error that stopped it."""
    mailbox_state.remember(engine, DRAIN_STATE, error, now)


def requeue(session: Session, message_id: str, now: datetime) -> bool:
    """Queue a failed reply again, due `now` (an admin's decision after checking the server)."""
    done = (
        session.connection()
        .execute(
            update(_OUTBOX)
            .where(_OUTBOX.c.message_id == message_id, _OUTBOX.c.state == "failed")
            .values(state="queued", next_attempt_at=now, claimed_at=None)
        )
        .rowcount
    )
    session.commit()
    return bool(done)


def release(session: Session, message_ids: list[str] | None) -> list[str]:
    """Queue the held replies of `message_ids` (all held ones when None) to go out: a person's
    decision, which no limit second-guesses. Due since they were made, so the next send delivers
    them. Returns the Message-IDs released; an id that is not held is left as it is."""
    query = update(_OUTBOX).where(_OUTBOX.c.state == "held")
    if message_ids is not None:
        query = query.where(_OUTBOX.c.message_id.in_(message_ids))
    released = (
        session.connection()
        .execute(
            query.values(
                state="queued",
                next_attempt_at=_OUTBOX.c.created_at,
                last_error=None,
                claimed_at=None,
            ).returning(_OUTBOX.c.message_id)
        )
        .scalars()
        .all()
    )
    session.commit()
    return list(released)


# ---- the sending stage's statements (replies.send_stage holds the outbox lock around them) ----

_ROW = _OUTBOX.c.id == bindparam("row_id")
_DUE = (
    select(
        _OUTBOX.c.id,
        _OUTBOX.c.raw,
        _OUTBOX.c.to_addresses,
        _OUTBOX.c.attempts,
        _OUTBOX.c.message_id,
    )
    .where(
        _OUTBOX.c.id > bindparam("last"),
        _OUTBOX.c.state.in_(("queued", "failed")),
        _OUTBOX.c.next_attempt_at.is_not(None),
        _OUTBOX.c.next_attempt_at <= bindparam("now"),
    )
    .order_by(_OUTBOX.c.id)
    .limit(bindparam("limit"))
)
_SENT = (
    update(_OUTBOX)
    .where(_ROW)
    .values(
        state="sent",
        attempts=bindparam("tries"),
        sent_at=bindparam("at"),
        last_error=None,
        next_attempt_at=None,
    )
)
_PUT_BACK = update(_OUTBOX).where(_ROW).values(state="queued", claimed_at=None)
_FAILED = (
    update(_OUTBOX)
    .where(_ROW)
    .values(
        state="failed",
        attempts=bindparam("tries"),
        last_error=bindparam("error"),
        next_attempt_at=bindparam("retry_at"),
    )
)


def due_page(conn: Connection, after_id: int, now: datetime, limit: int) -> list:
    """The next `limit` replies due at `now` after row `after_id`, oldest first; the read ends
    at once (no snapshot stays open while they are sent)."""
    due = conn.execute(_DUE, {"last": after_id, "now": now, "limit": limit}).all()
    conn.rollback()
    return due


def claim(conn: Connection, ids: list[int], now: datetime) -> None:
    """Mark rows `sending`, in one commit: a kill from here on leaves them to
    recover_interrupted."""
    conn.execute(
        update(_OUTBOX).where(_OUTBOX.c.id.in_(ids)).values(state="sending", claimed_at=now)
    )
    conn.commit()


def unclaim(conn: Connection, ids: list[int]) -> None:
    """Put back the rows of `ids` still `sending` (a drain that stops early)."""
    conn.execute(
        update(_OUTBOX)
        .where(_OUTBOX.c.id.in_(ids), _OUTBOX.c.state == "sending")
        .values(state="queued", claimed_at=None)
    )


def mark_sent(conn: Connection, row_id: int, tries: int, at: datetime) -> None:
    conn.execute(_SENT, {"row_id": row_id, "tries": tries, "at": at})


def put_back(conn: Connection, row_id: int) -> None:
    """Back to queued as it was: no attempt counted (the server refused us, not the reply)."""
    conn.execute(_PUT_BACK, {"row_id": row_id})


def mark_failed(
    conn: Connection, row_id: int, tries: int, error: str, retry: datetime | None
) -> None:
    """A failed attempt; `retry` None gives the reply up."""
    conn.execute(_FAILED, {"row_id": row_id, "tries": tries, "error": error, "retry_at": retry})
