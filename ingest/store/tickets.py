"""Store one received email: keep its bytes, join it to its ticket's thread, merge its fields.

An email that can be read goes through the store step's stages, in order (STAGES): classify the
sender → match a bounce → find the thread → open, join or apply → close automatic mail → record.
Each stage reads and adds to one Intake; the caller's transaction holds them all.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from ingest.config import Config
from ingest.reading.headers import claims_other_address
from ingest.reading.ticket import ReadResult, TicketReading, read_mail
from ingest.rules import engineers, threads
from ingest.rules.bounces import reason_of
from ingest.rules.stored import Stored, TicketView, view_of
from ingest.rules.threads import domain_of
from ingest.store import bounces, merge
from ingest.store.conversation import judge_follow_up, wait_on
from ingest.store.duplicates import find_duplicate, remember, stored_copies
from ingest.store.models import Message, Ticket, mail_time
from ingest.store.ticket_rows import (
    STOP_CODE_KEYS,
    accept,
    apply_engineer,
    follow_up,
    insert_row,
    new_ticket,
    record_answer,
    record_stop_codes,
)


def store_email(
    session: Session,
    raw: bytes,
    config: Config,
    read: ReadResult,
    known: dict,
    *,
    now: datetime,
    mailbox: str = "",
    uid: int | None = None,
    uidvalidity: int | None = None,
) -> Stored:
    """Store `raw`, read as `read`, arrived at `now`, in the open transaction of `session` (the
    caller commits). Never raises on bad mail. `known` maps the sha256 and Message-IDs already
    stored to their row (stored_copies), and learns this email's.
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
            **_message_values(raw, sha, None, source, now),
            "parse_error": read.error,
            "flags": ["unreadable"],
        }
        stored = Stored(
            "unreadable", message_db_id=insert_row(session, Message, values), flags=["unreadable"]
        )
    else:
        # Another sender's mail under a Message-ID already seen is a mail of its own (SPEC §6a).
        reused = ["reused_message_id"] if message_id and message_id in known else []
        intake = Intake(reading, config, now, raw, sha, source, flags=reused)
        for stage in STAGES:
            stage(session, intake)
        stored = intake.stored()
    remember(known, stored.message_db_id, sha, message_id, sender)
    return stored


@dataclass
class Intake:
    """One readable email on its way through the store step: what each stage has learnt."""

    reading: TicketReading
    config: Config
    now: datetime
    raw: bytes
    sha: str
    source: dict  # mailbox, uid, uidvalidity
    flags: list[str] = field(default_factory=list)  # stored on the message
    sender: engineers.Sender = engineers.Sender(None)
    bounced: object = None  # the outbox row of ours this email reports undeliverable
    ticket: Ticket | None = None  # the ticket it continues; None: it opens one
    outside: bool = False  # joined from outside the thread (or a bounce): it changes nothing
    written: TicketView | None = None  # its ticket as it stands after it
    outcome: str = ""
    changed: dict = field(default_factory=dict)
    became_complete: bool = False
    engineer_changes: list = field(default_factory=list)
    answer: str = ""  # an engineer's ---答复, for the desk to relay to the operator (SPEC §13)
    not_understood: list[str] = field(default_factory=list)  # engineers.PROBLEMS of their mail
    stop_codes: list[dict] | None = None
    message_db_id: int | None = None
    says: bool = False  # a follow-up from the thread says something (SPEC §13)
    reopen: str | None = None  # "reopen" its ticket, or open a "new" one naming it
    related: list[int] = field(default_factory=list)  # the tickets a new ticket names

    @property
    def forged(self) -> bool:
        return self.sender.flag == "forged_engineer"

    def stored(self) -> Stored:
        return Stored(
            self.outcome,
            message_db_id=self.message_db_id,
            ticket_id=self.written.id,
            reading=self.reading,
            changed=self.changed,
            became_complete=self.became_complete,
            flags=self.flags,
            engineer=self.sender.engineer,
            engineer_changes=self.engineer_changes,
            answer=self.answer,
            not_understood=self.not_understood,
            ticket=self.written,
            stop_codes=self.stop_codes,
        )


def classify_sender(session: Session, intake: Intake) -> None:
    """An engineer (verified as SPEC §8 says), a forged engineer, or anyone else."""
    intake.sender = engineers.classify(intake.reading.mail, intake.config)


def match_bounce(session: Session, intake: Intake) -> None:
    """A report that one of our replies did not arrive marks that reply, and nothing more."""
    our_domain = domain_of(intake.config.outgoing.from_address)
    intake.bounced = bounces.bounced_reply(session, intake.reading, our_domain)
    if intake.bounced is not None:
        bounces.mark_bounced(session, intake.bounced, reason_of(intake.reading), intake.now)
        intake.flags.insert(0, "bounce")


def find_thread(session: Session, intake: Intake) -> None:
    """The ticket this email continues (a bounce: its reply's), and how it was (not) joined."""
    if intake.bounced is not None and intake.bounced.ticket_id is not None:
        intake.ticket, how = session.get(Ticket, intake.bounced.ticket_id), []
    else:
        intake.ticket, how = thread_of(session, intake.reading, intake.config, intake.sender)
    intake.outside = "outside_thread" in how or intake.bounced is not None
    reading, sender = intake.reading, intake.sender
    mail = reading.mail.from_address
    intake.flags[:0] = [
        *how,
        *(["auto_submitted"] if reading.auto_submitted else []),
        *reading.limits_hit,
        *([sender.flag] if sender.flag else []),
        *(["display_name_address"] if claims_other_address(reading.mail.from_name, mail) else []),
    ]


def open_join_or_apply(session: Session, intake: Intake) -> None:
    """Open a ticket, or merge a follow-up from the thread's people; then apply what a verified
    engineer's mail says (a verified engineer is on every thread)."""
    reading, config, ticket = intake.reading, intake.config, intake.ticket
    if ticket is None:
        intake.outcome = "new_ticket"
        intake.written = new_ticket(session, reading, config, intake.now, forged=intake.forged)
        codes = [] if intake.forged else reading.stop_codes
        intake.stop_codes = [{k: c[k] for k in STOP_CODE_KEYS} for c in codes]
    else:
        intake.outcome = "follow_up"
        if not intake.outside:  # from outside: kept on the thread for engineers, nothing more
            intake.changed, intake.became_complete = follow_up(
                session, ticket, reading, config, intake.now
            )
            accept(session, ticket, reading.mail.from_address, intake.sender)
    if intake.sender.engineer and not reading.auto_submitted:
        intake.stop_codes = None
        engineer, names = intake.sender.engineer, [e.name for e in config.engineers]
        # A ---答复 answers the operator of a ticket on the thread, not the engineer who opens one.
        intake.answer = reading.fields.get("answer", "") if ticket is not None else ""
        ticket = ticket or session.get(Ticket, intake.written.id)
        intake.engineer_changes = apply_engineer(session, ticket, reading, intake.now, names)
        if intake.answer:
            record_answer(session, ticket, intake.answer, engineer, intake.now)
        intake.not_understood = engineers.not_understood(
            reading.fields,
            reading.unread,
            names,
            ticket.engineer,
            missing_ticket="foreign_ticket_tag" in intake.flags,
            did_something=bool(intake.engineer_changes or intake.answer),
        )
        if ticket.merged_into is not None:  # 合并到：工单#M: the mail is kept where its thread went
            intake.ticket = session.get(Ticket, ticket.merged_into)


def record(session: Session, intake: Intake) -> None:
    """Keep the message on its ticket, and its stop codes unless it may change nothing."""
    ticket_id = intake.written.id if intake.written else intake.ticket.id
    values = _message_values(intake.raw, intake.sha, intake.reading, intake.source, intake.now)
    intake.message_db_id = insert_row(
        session, Message, {**values, "ticket_id": ticket_id, "flags": intake.flags}
    )
    if not (intake.outside or intake.forged):  # a stop code is ticket data too
        record_stop_codes(
            session,
            ticket_id,
            intake.message_db_id,
            intake.reading.stop_codes,
            new=intake.ticket is None,
        )
    session.flush()
    if intake.ticket is not None or intake.engineer_changes:
        intake.written = view_of(intake.ticket or session.get(Ticket, ticket_id))


STAGES = (
    classify_sender,
    match_bounce,
    find_thread,
    judge_follow_up,
    open_join_or_apply,
    wait_on,
    record,
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


REFS_LOOKED_UP = 50  # References ids a thread is looked up by, from each end (SPEC §6b)


def lookup_ids(in_reply_to: str, references: list[str]) -> list[str]:
    """The ids a thread is found by: In-Reply-To, and the first and the last REFS_LOOKED_UP
    References ids (the root and the recent messages); an id buried deeper joins nothing, so a
    header of any length costs one bounded query."""
    ends = (
        references
        if len(references) <= 2 * REFS_LOOKED_UP
        else [*references[:REFS_LOOKED_UP], *references[-REFS_LOOKED_UP:]]
    )
    return list(dict.fromkeys(r for r in [in_reply_to, *ends] if r))


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
    refs = lookup_ids(mail.in_reply_to, mail.references)
    # Several tickets when someone reused a Message-ID: the one whose thread the sender is on.
    rows = session.connection().execute(_THREAD_BY_REFS, {"refs": refs}).scalars() if refs else []
    hits = list(dict.fromkeys(rows))
    for hit in hits:
        ticket = merge.followed(session, session.get(Ticket, hit))
        if _on_thread(ticket, mail, config, sender):
            return ticket, []
    if hits:
        return merge.followed(session, session.get(Ticket, hits[0])), ["outside_thread"]
    tagged = threads.tagged_ticket(mail.subject)
    if tagged is not None:
        # A merged ticket's number leads to the ticket it was merged into (SPEC §13).
        ticket = merge.followed(session, session.get(Ticket, tagged))
        if ticket is not None and _on_thread(ticket, mail, config, sender):
            return ticket, []
        return None, ["foreign_ticket_tag"]
    return None, []


def _message_values(
    raw: bytes, sha: str, reading: TicketReading | None, source: dict, arrived: datetime
) -> dict:
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
        "fields_from_images": {},
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
            fields_from_images=reading.fields_from_images,
        )
    return values


def add_flag(session: Session, message_db_id: int, flag: str) -> None:
    """Mark a stored email (`reply_failed`, `over_daily_limit`, ...)."""
    message = session.get(Message, message_db_id)
    message.flags = [*message.flags, flag]
    session.add(message)


def store_and_commit(
    session: Session, raw: bytes, config: Config, *, now: datetime, **source
) -> Stored:
    """Store one email in its own transaction; a concurrent copy of it counts as a duplicate."""
    read = read_mail(raw, config.desk)
    try:
        known = stored_copies(session, [raw], [read.reading])
        stored = store_email(session, raw, config, read, known, now=now, **source)
        session.commit()
        return stored
    except IntegrityError:
        session.rollback()
        mail = read.reading.mail if read.reading else None
        message_id, sender = (mail.message_id, mail.from_address) if mail else ("", "")
        found = find_duplicate(session, message_id, hashlib.sha256(raw).hexdigest(), sender)
        return Stored("duplicate", message_db_id=found)


def store_many(
    session: Session,
    emails: list[tuple[bytes, dict]],
    config: Config,
    reads: list[ReadResult],
    *,
    now: datetime,
) -> list[Stored]:
    """Store a batch of emails in one transaction (a backfill); on a conflict, one by one.
    `reads` are their read_mail results."""
    known = stored_copies(session, [raw for raw, _ in emails], [r.reading for r in reads])
    try:
        results = [
            store_email(session, raw, config, read, known, now=now, **source)
            for (raw, source), read in zip(emails, reads, strict=False)
        ]
        session.commit()
        return results
    except IntegrityError:
        session.rollback()
        return [store_and_commit(session, raw, config, now=now, **source) for raw, source in emails]
