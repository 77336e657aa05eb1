"""Store one received email: keep its bytes, join it to its ticket's thread, merge its fields."""

from __future__ import annotations

import hashlib

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from ingest.config import Config
from ingest.reading.ticket import ReadResult, TicketReading, read_mail
from ingest.rules import engineers, threads
from ingest.rules.bounces import reason_of
from ingest.rules.stored import Stored
from ingest.store import bounces
from ingest.store.copies import find_duplicate, remember, stored_copies
from ingest.store.models import Message, Ticket, mail_time, utcnow
from ingest.store.ticket_rows import (
    STOP_CODE_KEYS,
    accept,
    apply_engineer,
    follow_up,
    insert_row,
    new_ticket,
    record_stop_codes,
    view_of,
)

# The tickets an email's references point to. Our own replies' Message-IDs first (nobody can
# have used them before us), then the earliest stored.
_THREAD_BY_REFS = (
    select(Message.ticket_id)
    .where(
        Message.message_id.in_(bindparam("refs", expanding=True)),
        Message.message_id != "",
        Message.ticket_id.is_not(None),
    )
    .order_by(Message.direction.desc(), Message.id)
    .limit(20)
)


def _on_thread(ticket: Ticket, mail, config: Config, sender: engineers.Sender) -> bool:
    return threads.on_thread(
        mail.from_address,
        ticket.thread_addresses,
        config.desk.operator_domains,
        engineer=sender.engineer is not None,
        forged=sender.flag == "forged_engineer",
    )


def thread_of(
    session: Session, reading: TicketReading, config: Config, sender: engineers.Sender
) -> tuple[Ticket | None, list[str]]:
    """The ticket this email continues, and flags about how it was (not) joined.

    In-Reply-To/References join the conversation whoever writes, but a mail from outside the
    thread is flagged `outside_thread` (it changes nothing). A `[工单#N]` tag alone joins only
    for the thread's people; from anyone else it opens a new ticket, flagged.
    """
    mail = reading.mail
    refs = [r for r in [mail.in_reply_to, *mail.references] if r]
    # Several tickets when someone reused a Message-ID: the one whose thread the sender is on.
    rows = session.connection().execute(_THREAD_BY_REFS, {"refs": refs}).scalars() if refs else []
    hits = list(dict.fromkeys(rows))
    for hit in hits:
        ticket = session.get(Ticket, hit)
        if _on_thread(ticket, mail, config, sender):
            return ticket, []
    if hits:
        return session.get(Ticket, hits[0]), ["outside_thread"]
    tagged = threads.tagged_ticket(mail.subject)
    if tagged is not None:
        ticket = session.get(Ticket, tagged)
        if ticket is not None and _on_thread(ticket, mail, config, sender):
            return ticket, []
        return None, ["foreign_ticket_tag"]
    return None, []


def _message_values(raw: bytes, sha: str, reading: TicketReading | None, source: dict) -> dict:
    arrived = utcnow()
    values = {
        "raw": raw,
        "raw_sha256": sha,
        "size": len(raw),
        "received_at": arrived,
        "sent_at": arrived,
        "direction": "in",
        "message_id": "",
        "in_reply_to": "",
        "references": [],
        "from_address": "",
        "to_addresses": [],
        "subject": "",
        "date": None,
        "text": "",
        "auto_submitted": False,
        "flags": [],
        **source,
    }
    if reading:
        mail = reading.mail
        values.update(
            message_id=mail.message_id,
            in_reply_to=mail.in_reply_to,
            references=mail.references,
            from_address=mail.from_address,
            to_addresses=mail.to + mail.cc,
            subject=mail.subject,
            date=mail.date if mail.date and mail.date.tzinfo else None,
            sent_at=mail_time(mail.date, arrived),
            text=mail.body,
            auto_submitted=reading.auto_submitted,
        )
    return values


def store_email(
    session: Session,
    raw: bytes,
    config: Config,
    read: ReadResult,
    known: dict,
    *,
    mailbox: str = "",
    uid: int | None = None,
    uidvalidity: int | None = None,
) -> Stored:
    """Store `raw`, read as `read`, in the open transaction of `session` (the caller commits).
    Never raises on bad mail. `known` maps the sha256 and Message-IDs already stored to their row
    (stored_copies), and learns this email's.
    """
    sha = hashlib.sha256(raw).hexdigest()
    source = {"mailbox": mailbox, "uid": uid, "uidvalidity": uidvalidity}
    reading = read.reading
    message_id, sender = (
        (reading.mail.message_id, reading.mail.from_address) if reading else ("", "")
    )
    duplicate = known.get(sha) or (known.get((message_id, sender)) if message_id else None)
    if duplicate:
        return Stored("duplicate", message_db_id=duplicate, reading=reading)
    if reading is None:
        values = {
            **_message_values(raw, sha, None, source),
            "parse_error": read.error,
            "flags": ["unreadable"],
        }
        stored = Stored(
            "unreadable", message_db_id=insert_row(session, Message, values), flags=["unreadable"]
        )
    else:
        # Another sender's mail under a Message-ID already seen is a mail of its own (SPEC §6a).
        reused = ["reused_message_id"] if message_id and message_id in known else []
        stored = _store_reading(session, raw, sha, reading, source, config, reused)
    remember(known, stored.message_db_id, sha, message_id, sender)
    return stored


def _store_reading(
    session: Session,
    raw: bytes,
    sha: str,
    reading: TicketReading,
    source: dict,
    config: Config,
    extra_flags: list[str],
) -> Stored:
    sender = engineers.classify(reading.mail, config)
    forged = sender.flag == "forged_engineer"
    bounced = bounces.bounced_reply(session, reading)
    if bounced is not None:
        # A report that one of our replies did not arrive: on that reply's thread, nothing more.
        bounces.mark_bounced(session, bounced, reason_of(reading))
        extra_flags = ["bounce", *extra_flags]
    if bounced is not None and bounced.ticket_id is not None:
        ticket, flags = session.get(Ticket, bounced.ticket_id), []
    else:
        ticket, flags = thread_of(session, reading, config, sender)
    outside = "outside_thread" in flags or bounced is not None
    flags += (["auto_submitted"] if reading.auto_submitted else []) + reading.limits_hit
    flags += ([sender.flag] if sender.flag else []) + extra_flags
    changed, became_complete, stop_codes = {}, False, None
    if ticket is None:
        written = new_ticket(session, reading, config, forged=forged)
        outcome = "new_ticket"
        stop_codes = [
            {k: c[k] for k in STOP_CODE_KEYS} for c in ([] if forged else reading.stop_codes)
        ]
    else:
        written = ticket
        outcome = "follow_up"
        if not outside:  # from outside the thread: kept on it for engineers to see, nothing more
            changed, became_complete = follow_up(session, ticket, reading, config)
            accept(session, ticket, reading.mail.from_address, sender)
    engineer_changes = []
    if sender.engineer and not reading.auto_submitted:  # a verified engineer is on every thread
        stop_codes = None
        engineer_changes = apply_engineer(
            session, ticket or session.get(Ticket, written.id), reading
        )
    message_db_id = insert_row(
        session,
        Message,
        {**_message_values(raw, sha, reading, source), "ticket_id": written.id, "flags": flags},
    )
    if not (outside or forged):  # a stop code is ticket data too
        record_stop_codes(
            session, written.id, message_db_id, reading.stop_codes, new=ticket is None
        )
    session.flush()
    if ticket is not None or engineer_changes:
        written = view_of(ticket or session.get(Ticket, written.id))
    return Stored(
        outcome,
        message_db_id=message_db_id,
        ticket_id=written.id,
        reading=reading,
        changed=changed,
        became_complete=became_complete,
        flags=flags,
        engineer=sender.engineer,
        engineer_changes=engineer_changes,
        ticket=written,
        stop_codes=stop_codes,
    )


def add_flag(session: Session, message_db_id: int, flag: str) -> None:
    """Mark a stored email (`reply_failed`, `over_daily_limit`, ...)."""
    message = session.get(Message, message_db_id)
    message.flags = [*message.flags, flag]
    session.add(message)


def store_and_commit(session: Session, raw: bytes, config: Config, **source) -> Stored:
    """Store one email in its own transaction; a concurrent copy of it counts as a duplicate."""
    read = read_mail(raw, config.desk)
    try:
        stored = store_email(
            session, raw, config, read, stored_copies(session, [raw], [read.reading]), **source
        )
        session.commit()
        return stored
    except IntegrityError:
        session.rollback()
        mail = read.reading.mail if read.reading else None
        message_id, sender = (mail.message_id, mail.from_address) if mail else ("", "")
        found = find_duplicate(session, message_id, hashlib.sha256(raw).hexdigest(), sender)
        return Stored("duplicate", message_db_id=found)


def store_many(
    session: Session, emails: list[tuple[bytes, dict]], config: Config, reads: list[ReadResult]
) -> list[Stored]:
    """Store a batch of emails in one transaction (a backfill); on a conflict, one by one.
    `reads` are their read_mail results."""
    known = stored_copies(session, [raw for raw, _ in emails], [r.reading for r in reads])
    try:
        results = [
            store_email(session, raw, config, read, known, **source)
            for (raw, source), read in zip(emails, reads, strict=False)
        ]
        session.commit()
        return results
    except IntegrityError:
        session.rollback()
        return [store_and_commit(session, raw, config, **source) for raw, source in emails]
