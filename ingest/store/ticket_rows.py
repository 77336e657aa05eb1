"""A ticket's rows: open it, merge a follow-up's fields, apply an engineer's changes, keep its
stop codes and history."""

from __future__ import annotations

from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, insert
from sqlmodel import Session, select

from ingest.config import Config
from ingest.reading.completeness import assess
from ingest.reading.field_specs import field_specs
from ingest.reading.ticket import TicketReading
from ingest.rules import engineers
from ingest.rules.stored import FIELD_KEYS, TicketView, ticket_fields
from ingest.store import merge
from ingest.store.models import Message, StopCodeHit, Ticket, TicketEvent, mail_time

# Fields an operator's email sets on a ticket. Status, assignment, the 跟踪/分析/解决 notes and
# the 答复 relayed to the operator belong to engineers (SPEC §8, §13): ingest.rules.engineers.
OPERATOR_KEYS = tuple(
    s.key
    for s in field_specs().fields
    if s.key not in ("status", "engineer", "tracking", "analysis", "resolution", "answer")
)
STOP_CODE_KEYS = ("vendor", "code", "meaning", "known")


@cache
def _insert_statement(table):
    return insert(table)


def insert_row(session: Session, model, values: dict) -> int:
    """Insert one row with a prepared Core statement: building ORM objects costs more than the
    write."""
    return (
        session.connection()
        .execute(_insert_statement(model.__table__), values)
        .inserted_primary_key[0]
    )


def _event(session: Session, at: datetime, ticket_id: int, kind: str, by: str, **detail) -> None:
    insert_row(
        session,
        TicketEvent,
        {"ticket_id": ticket_id, "kind": kind, "by": by, "detail": detail, "at": at},
    )


event = _event  # a history event, for the other modules of the store step


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


def new_ticket(
    session: Session, reading: TicketReading, config: Config, now: datetime, forged: bool = False
) -> TicketView:
    """Insert the ticket an email opens; the row as written (what replies need of it).
    Automatic and forged mail open it without fields; its opener is the first on its thread.
    Automatic mail opens it closed: it waits for nobody (SPEC §13), so no out-of-office reply
    sits among the open tickets."""
    mail = reading.mail
    if reading.auto_submitted or forged:
        fields, values = {}, _assessment_values({}, mail.subject, config)
    else:
        # The reading already assessed these fields: only operator fields count for completeness.
        fields = {k: v for k, v in reading.fields.items() if k in OPERATOR_KEYS}
        values = _columns(reading.assessment)
    opened_as = "in_progress" if values["complete"] else "waiting_info"
    values.update(
        fields,
        subject=mail.subject,
        operator_address=mail.from_address,
        # The mail's own time (SPEC §12's ages and periods): last month's mail imported today
        # is last month's ticket.
        created_at=mail_time(mail.date, now),
        updated_at=now,
        status=opened_as,
        thread_addresses=[mail.from_address] if mail.from_address and not forged else [],
        # We ask the operator for what is missing (SPEC §13: waiting_on).
        waiting_on=None if values["complete"] or reading.auto_submitted or forged else "operator",
    )
    if reading.auto_submitted:
        values.update(status="closed", closed_reason=merge.AUTOMATIC)
    # Every column, every time: one compiled statement serves all tickets, whatever fields they
    # have.
    row = {**_TICKET_DEFAULTS, **values}
    del row["id"]
    ticket_id = insert_row(session, Ticket, row)
    if reading.auto_submitted:
        _event(session, now, ticket_id, "closed", "", old=opened_as, reason=merge.AUTOMATIC)
    return TicketView(
        id=ticket_id,
        subject=row["subject"],
        template=row["template"],
        status=row["status"],
        engineer=row["engineer"],
        operator_address=row["operator_address"],
        thread_addresses=list(row["thread_addresses"]),
        complete=row["complete"],
        missing=list(row["missing"]),
        invalid=dict(row["invalid"]),
        fields={k: row[k] for k in FIELD_KEYS if row[k]},
    )


def follow_up(
    session: Session, ticket: Ticket, reading: TicketReading, config: Config, now: datetime
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
                    now,
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
        _event(session, now, ticket.id, "completed", sender)
        if ticket.status == "waiting_info":
            ticket.status = "in_progress"
    ticket.updated_at = now
    session.add(ticket)
    return changed, became_complete


def accept(session: Session, ticket: Ticket, address: str, sender: engineers.Sender) -> None:
    """Someone on the thread wrote on it: they stay on it (engineers are on it by the config)."""
    if sender.engineer is None and address and address not in ticket.thread_addresses:
        ticket.thread_addresses = [*ticket.thread_addresses, address]
        session.add(ticket)


def apply_engineer(
    session: Session,
    ticket: Ticket,
    reading: TicketReading,
    now: datetime,
    names: list[str] | None = None,
) -> list:
    """An engineer's 状态 sets the status (☑ 已关闭 closes, without a reply), 售后(跟单)工程师
    assigns (one of `names`, when given), 跟踪/分析/解决 add to the history, 合并到：工单#M merges
    the ticket into M. The changes made: a merge that is refused (an unknown or closed ticket) is
    not among them."""
    by = reading.mail.from_address
    current = {
        "id": ticket.id,
        "status": ticket.status,
        "engineer": ticket.engineer,
        **{k: getattr(ticket, k) for k in engineers.NOTE_KEYS},
    }
    fields = {**reading.fields, "merge_into": reading.merge_into}
    changes = []
    for change in engineers.engineer_changes(current, fields, names):
        if change.kind == "merged":
            try:
                merge.merge(session, ticket, change.new, by, now)
            except merge.Refused:
                continue
        elif change.kind == "closed":
            merge.close_ticket(session, ticket, merge.BY_ENGINEER, by, now)
        elif change.kind == "note":
            old = getattr(ticket, change.field)
            setattr(ticket, change.field, f"{old}\n\n{change.new}" if old else change.new)
            _event(session, now, ticket.id, "note", by, field=change.field, text=change.new)
        else:
            setattr(ticket, change.field, change.new)
            if change.field == "status":
                ticket.closed_reason = None  # reopened by an engineer: no longer closed
            _event(session, now, ticket.id, change.kind, by, old=change.old, new=change.new)
        changes.append(change)
    if changes:
        ticket.updated_at = now
        session.add(ticket)
    return changes


def record_answer(session: Session, ticket: Ticket, text: str, engineer, now: datetime) -> None:
    """An engineer answered the operator (SPEC §13): in the history, and the ticket no longer
    waits for the team."""
    _event(session, now, ticket.id, "answered", engineer.address, name=engineer.name, text=text)
    ticket.waiting_on = None
    ticket.updated_at = now
    session.add(ticket)


def record_stop_codes(
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
        # A brand without a table has no meaning: NULL (SPEC §5).
        {"ticket_id": ticket_id, "message_db_id": message_db_id, **c}
        for c in codes
        if (c["vendor"], c["code"]) not in known
    ]
    if rows:
        session.connection().execute(insert(StopCodeHit.__table__), rows)


_STOP_CODES = (
    select(StopCodeHit.vendor, StopCodeHit.code, StopCodeHit.meaning, StopCodeHit.known)
    .where(StopCodeHit.ticket_id == bindparam("ticket"))
    .order_by(StopCodeHit.id)
)


def stop_codes_of(session: Session, ticket_id: int) -> list[dict]:
    """A ticket's stop codes, in the order they were first seen."""
    hits = session.connection().execute(_STOP_CODES, {"ticket": ticket_id})
    return [dict(zip(STOP_CODE_KEYS, hit, strict=True)) for hit in hits]


def last_mails_from(session: Session, ticket_id: int, addresses: list[str]) -> dict:
    """The latest email each of `addresses` wrote on a ticket's thread, by address (if any)."""
    return {
        a: last for a in dict.fromkeys(addresses) if (last := last_mail_from(session, ticket_id, a))
    }


def last_mail_from(session: Session, ticket_id: int, address: str) -> Message | None:
    """The latest email `address` wrote on a ticket's thread."""
    return session.execute(
        select(Message)
        .where(
            Message.ticket_id == ticket_id,
            Message.direction == "in",
            Message.from_address == address,
        )
        .order_by(Message.id.desc())
        .limit(1)
    ).scalar()
