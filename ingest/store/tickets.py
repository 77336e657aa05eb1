"""Store one received email: keep its bytes, join it to its ticket's thread, merge its fields."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache
from types import SimpleNamespace

from sqlalchemy import and_, bindparam, insert, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ingest.config import Config
from ingest.reading.completeness import assess
from ingest.reading.email_reader import NotAnEmail
from ingest.reading.fields import catalog
from ingest.reading.limits import TooSlow
from ingest.reading.ticket import TicketReading, read_ticket
from ingest.store import engineers, threads
from ingest.store.models import Message, StopCodeHit, Ticket, TicketEvent, utcnow

# Fields an operator's email sets on a ticket. Status, assignment and the 跟踪/分析/解决 notes
# belong to engineers (SPEC §8) and are handled by ingest.store.engineers.
OPERATOR_KEYS = tuple(
    s.key
    for s in catalog().fields
    if s.key not in ("status", "engineer", "tracking", "analysis", "resolution")
)


@dataclass
class Stored:
    """What storing one email did."""

    outcome: str  # "new_ticket", "follow_up", "duplicate", "unreadable"
    message_db_id: int | None = None
    ticket_id: int | None = None
    reading: TicketReading | None = None
    changed: dict = field(default_factory=dict)  # key -> (old, new) set by this email
    became_complete: bool = False
    flags: list[str] = field(default_factory=list)
    engineer: object = None  # the Engineer whose mail this is, when it counts as one
    engineer_changes: list = field(default_factory=list)  # engineers.Change applied
    _session: Session | None = field(default=None, repr=False)
    _ticket: object = field(default=None, repr=False)

    @property
    def resolved_now(self) -> bool:
        return any(
            c.kind == "status_changed" and c.new == "resolved" for c in self.engineer_changes
        )

    @property
    def ticket(self) -> Ticket | SimpleNamespace | None:
        """The ticket as it stands after this email: the row just written for a new ticket,
        else loaded on first use (an import never needs it)."""
        if self._ticket is None and self.ticket_id is not None and self._session is not None:
            self._ticket = self._session.get(Ticket, self.ticket_id)
        return self._ticket


def ticket_fields(ticket: Ticket) -> dict[str, str]:
    return {
        k: getattr(ticket, k)
        for k in (s.key for s in catalog().fields)
        if k not in ("status", "engineer") and getattr(ticket, k)
    }


# Prepared once: building a statement per email costs more than running it.
# `!= ''` lets the database use the partial unique index on message_id.
_COPIES = select(Message.id, Message.raw_sha256, Message.message_id, Message.from_address).where(
    or_(
        Message.raw_sha256.in_(bindparam("shas", expanding=True)),
        and_(Message.message_id.in_(bindparam("ids", expanding=True)), Message.message_id != ""),
    )
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


def _remember(known: dict, row_id: int, sha: str, message_id: str, sender: str) -> None:
    """Note a stored email in `known`: by its bytes, by Message-ID and sender (a duplicate), and
    by Message-ID alone (a later mail from someone else that reuses it is flagged)."""
    known[sha] = row_id
    if message_id:
        known[(message_id, sender)] = row_id
        known.setdefault(message_id, row_id)


def find_duplicate(session: Session, message_id: str, sha: str, sender: str = "") -> int | None:
    """The stored copy of an email: the same bytes, or the same Message-ID from the same sender."""
    known: dict = {}
    for row in session.connection().execute(_COPIES, {"shas": [sha], "ids": [message_id or ""]}):
        _remember(known, *row)
    return known.get(sha) or (known.get((message_id, sender)) if message_id else None)


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


@cache
def _insert_statement(table):
    return insert(table)


def _insert(session: Session, model, values: dict) -> int:
    """Insert one row with a prepared Core statement: building ORM objects costs more than the
    write."""
    return (
        session.connection()
        .execute(_insert_statement(model.__table__), values)
        .inserted_primary_key[0]
    )


def _event(session: Session, ticket_id: int, kind: str, by: str, **detail) -> None:
    _insert(
        session,
        TicketEvent,
        {"ticket_id": ticket_id, "kind": kind, "by": by, "detail": detail, "at": utcnow()},
    )


def _columns(result) -> dict:
    """The ticket columns an assessment sets."""
    return {
        "template": result.template,
        "missing": result.missing,
        "invalid": result.invalid,
        "complete": result.complete,
        "order_time": result.order_time,
    }


def _assessment_values(fields: dict, subject: str, config: Config) -> dict:
    return _columns(assess(fields, subject, config.desk.rules))


_TICKET_DEFAULTS = {
    c.name: c.default.arg if c.default is not None and not callable(c.default.arg) else None
    for c in Ticket.__table__.columns
}


def _new_ticket(
    session: Session, reading: TicketReading, config: Config, forged: bool = False
) -> SimpleNamespace:
    """Insert the ticket an email opens; the row as written (what replies need of it).
    Automatic and forged mail open it without fields; its opener is the first on its thread."""
    mail = reading.mail
    if reading.auto_submitted or forged:
        fields, values = {}, _assessment_values({}, mail.subject, config)
    else:
        # The reading already assessed these fields: only operator fields count for completeness.
        fields = {k: v for k, v in reading.fields.items() if k in OPERATOR_KEYS}
        values = _columns(reading.assessment)
    now = utcnow()
    values.update(
        fields,
        subject=mail.subject,
        operator_address=mail.from_address,
        created_at=now,
        updated_at=now,
        status="in_progress" if values["complete"] else "waiting_info",
        thread_addresses=[mail.from_address] if mail.from_address and not forged else [],
    )
    # Every column, every time: one compiled statement serves all tickets, whatever fields they
    # have.
    row = {**_TICKET_DEFAULTS, **values}
    del row["id"]
    ticket_id = _insert(session, Ticket, row)  # its creation is the ticket's created_at
    return SimpleNamespace(**row, id=ticket_id)


def _follow_up(
    session: Session, ticket: Ticket, reading: TicketReading, config: Config
) -> tuple[dict, bool]:
    """Merge a follow-up's fields: (changed fields, whether the ticket has just become complete)."""
    sender = reading.mail.from_address
    changed = {}
    if not reading.auto_submitted:
        for key in OPERATOR_KEYS:
            new, old = reading.fields.get(key), getattr(ticket, key)
            if new and new != old:
                setattr(ticket, key, new)
                changed[key] = (old, new)
                _event(
                    session,
                    ticket.id,
                    "field_set" if old is None else "field_changed",
                    sender,
                    field=key,
                    old=old,
                    new=new,
                )
    was_complete = ticket.complete
    for name, value in _assessment_values(ticket_fields(ticket), ticket.subject, config).items():
        setattr(ticket, name, value)
    became_complete = ticket.complete and not was_complete
    if became_complete:
        _event(session, ticket.id, "completed", sender)
        if ticket.status == "waiting_info":
            ticket.status = "in_progress"
    ticket.updated_at = utcnow()
    session.add(ticket)
    return changed, became_complete


def _record_stop_codes(
    session: Session, ticket_id: int, message_db_id: int, codes: list[dict], new: bool
) -> None:
    if not codes:
        return
    known = (
        set()
        if new
        else set(
            session.execute(
                select(StopCodeHit.vendor, StopCodeHit.code).where(
                    StopCodeHit.ticket_id == ticket_id
                )
            ).all()
        )
    )
    rows = [
        # A brand without a table has no meaning (None); the column holds "" for it.
        {"ticket_id": ticket_id, "message_db_id": message_db_id, **c, "meaning": c["meaning"] or ""}
        for c in codes
        if (c["vendor"], c["code"]) not in known
    ]
    if rows:
        session.connection().execute(insert(StopCodeHit.__table__), rows)


def _message_values(raw: bytes, sha: str, reading: TicketReading | None, source: dict) -> dict:
    values = {
        "raw": raw,
        "raw_sha256": sha,
        "size": len(raw),
        "received_at": utcnow(),
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
            text=mail.body,
            auto_submitted=reading.auto_submitted,
        )
    return values


def read_or_error(raw: bytes, config: Config) -> TicketReading | str:
    """The ticket reading of `raw`, or why it cannot be read."""
    try:
        return read_ticket(raw, config.desk)
    except (NotAnEmail, TooSlow) as exc:
        return str(exc)
    except Exception as exc:  # a bug of ours on odd mail must not lose the mail
        return f"{type(exc).__name__}: {exc}"


def store_email(
    session: Session,
    raw: bytes,
    config: Config,
    *,
    mailbox: str = "",
    uid: int | None = None,
    uidvalidity: int | None = None,
    reading: TicketReading | str | None = None,
    known: dict | None = None,
) -> Stored:
    """Store `raw` in the open transaction of `session` (the caller commits). Never raises on bad
    mail.

    `reading` may be given when already made; `known` maps the sha256 and Message-IDs already
    stored to their row, for a batch that looked them up at once.
    """
    sha = hashlib.sha256(raw).hexdigest()
    source = {"mailbox": mailbox, "uid": uid, "uidvalidity": uidvalidity}
    reading = read_or_error(raw, config) if reading is None else reading
    mail = None if isinstance(reading, str) else reading.mail
    message_id, sender = (mail.message_id, mail.from_address) if mail else ("", "")
    if known is None:
        known = stored_copies(session, [raw], [reading])
    duplicate = known.get(sha) or (known.get((message_id, sender)) if message_id else None)
    if duplicate:
        return Stored(
            "duplicate",
            message_db_id=duplicate,
            reading=None if isinstance(reading, str) else reading,
        )
    if isinstance(reading, str):
        values = {
            **_message_values(raw, sha, None, source),
            "parse_error": reading,
            "flags": ["unreadable"],
        }
        stored = Stored(
            "unreadable", message_db_id=_insert(session, Message, values), flags=["unreadable"]
        )
    else:
        # Another sender's mail under a Message-ID already seen is a mail of its own (SPEC §6a).
        reused = ["reused_message_id"] if message_id and message_id in known else []
        stored = _store_reading(session, raw, sha, reading, source, config, reused)
    _remember(known, stored.message_db_id, sha, message_id, sender)
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
    ticket, flags = thread_of(session, reading, config, sender)
    outside = "outside_thread" in flags
    flags += (["auto_submitted"] if reading.auto_submitted else []) + reading.limits_hit
    flags += ([sender.flag] if sender.flag else []) + extra_flags
    changed, became_complete = {}, False
    if ticket is None:
        written = _new_ticket(session, reading, config, forged=forged)
        ticket_id = written.id
        outcome = "new_ticket"
    else:
        written = ticket
        ticket_id = ticket.id
        outcome = "follow_up"
        if not outside:  # from outside the thread: kept on it for engineers to see, nothing more
            changed, became_complete = _follow_up(session, ticket, reading, config)
            _accept(session, ticket, reading.mail.from_address, sender)
    engineer_changes = []
    if sender.engineer and not reading.auto_submitted:  # a verified engineer is on every thread
        written = ticket or session.get(Ticket, ticket_id)
        engineer_changes = _apply_engineer(session, written, reading)
    message_db_id = _insert(
        session,
        Message,
        {**_message_values(raw, sha, reading, source), "ticket_id": ticket_id, "flags": flags},
    )
    if not (outside or forged):  # a stop code is ticket data too
        _record_stop_codes(
            session, ticket_id, message_db_id, reading.stop_codes, new=ticket is None
        )
    if isinstance(written, SimpleNamespace):
        # A new ticket's stop codes are exactly this email's: replies need not read them back.
        written.stop_codes = [
            {k: c[k] for k in ("vendor", "code", "meaning", "known")}
            for c in ([] if forged else reading.stop_codes)
        ]
    session.flush()
    return Stored(
        outcome,
        message_db_id=message_db_id,
        ticket_id=ticket_id,
        reading=reading,
        changed=changed,
        became_complete=became_complete,
        flags=flags,
        engineer=sender.engineer,
        engineer_changes=engineer_changes,
        _session=session,
        _ticket=written,
    )


def _accept(session: Session, ticket: Ticket, address: str, sender: engineers.Sender) -> None:
    """Someone on the thread wrote on it: they stay on it (engineers are on it by the config)."""
    if sender.engineer is None and address and address not in ticket.thread_addresses:
        ticket.thread_addresses = [*ticket.thread_addresses, address]
        session.add(ticket)


def _apply_engineer(session: Session, ticket: Ticket, reading: TicketReading) -> list:
    """An engineer's 状态 sets the status, 售后(跟单)工程师 assigns, 跟踪/分析/解决 add to the
    history."""
    by = reading.mail.from_address
    current = {
        "status": ticket.status,
        "engineer": ticket.engineer,
        **{k: getattr(ticket, k) for k in engineers.NOTE_KEYS},
    }
    changes = engineers.engineer_changes(current, reading.fields)
    for change in changes:
        if change.kind == "note":
            old = getattr(ticket, change.field)
            setattr(ticket, change.field, f"{old}\n\n{change.new}" if old else change.new)
            _event(session, ticket.id, "note", by, field=change.field, text=change.new)
        else:
            setattr(ticket, change.field, change.new)
            _event(session, ticket.id, change.kind, by, old=change.old, new=change.new)
    if changes:
        ticket.updated_at = utcnow()
        session.add(ticket)
    return changes


def store_and_commit(session: Session, raw: bytes, config: Config, **source) -> Stored:
    """Store one email in its own transaction; a concurrent copy of it counts as a duplicate."""
    reading = read_or_error(raw, config)
    try:
        stored = store_email(session, raw, config, reading=reading, **source)
        session.commit()
        return stored
    except IntegrityError:
        session.rollback()
        mail = None if isinstance(reading, str) else reading.mail
        message_id, sender = (mail.message_id, mail.from_address) if mail else ("", "")
        found = find_duplicate(session, message_id, hashlib.sha256(raw).hexdigest(), sender)
        return Stored("duplicate", message_db_id=found)


def stored_copies(session: Session, raws: list[bytes], readings: list[TicketReading | str]) -> dict:
    """The rows already holding any of these emails (see _remember): one query a batch."""
    shas = [hashlib.sha256(raw).hexdigest() for raw in raws]
    ids = [r.mail.message_id for r in readings if not isinstance(r, str) and r.mail.message_id]
    known: dict = {}
    for row in session.connection().execute(_COPIES, {"shas": shas, "ids": ids or [""]}):
        _remember(known, *row)
    return known


def store_many(
    session: Session, emails: list[tuple[bytes, dict]], config: Config, readings: list
) -> list[Stored]:
    """Store a batch of emails in one transaction (a backfill); on a conflict, one by one.
    `readings` are their read_or_error results."""
    known = stored_copies(session, [raw for raw, _ in emails], readings)
    try:
        results = [
            store_email(session, raw, config, reading=reading, known=known, **source)
            for (raw, source), reading in zip(emails, readings, strict=False)
        ]
        session.commit()
        return results
    except IntegrityError:
        session.rollback()
        return [store_and_commit(session, raw, config, **source) for raw, source in emails]
