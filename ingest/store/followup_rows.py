"""What the follow-up step reads and writes of the tickets that may be due (ingest.desk.remind):
each chunk of them read in a few set-based queries, written with guarded updates. Loaded once a
ticket may be due (followups.waiting_tickets found one): it uses the ORM models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Row
from sqlmodel import Session

from ingest.store.followups import BY, TicketChanged
from ingest.store.models import Message, Outbox, Ticket, TicketEvent


@dataclass
class Thread:
    """One ticket as the follow-up step reads it: the ticket's row, its latest request_info,
    the mail that request answered, and what came after."""

    ticket: Row  # the ticket's columns
    request: Row  # its latest request_info (outbox columns, no raw mail)
    asked: Row | None = None  # the stored email that request answered (no raw mail)
    later: list[Row] = field(default_factory=list)  # inbound mail stored after it, oldest first
    reminded: bool = False  # a reminder answering `asked` is in the outbox
    held: bool = False  # this request has put the ticket on hold before


# What the step reads of an outbox row and of a message: not their raw mail.
_REQUEST_COLUMNS = (
    Outbox.id,
    Outbox.ticket_id,
    Outbox.message_id,
    Outbox.state,
    Outbox.caused_by,
    Outbox.recipient,
    Outbox.to_addresses,
    Outbox.created_at,
)
_MESSAGE_COLUMNS = (
    Message.id,
    Message.ticket_id,
    Message.message_id,
    Message.references,
    Message.from_address,
    Message.subject,
    Message.auto_submitted,
    Message.flags,
    Message.received_at,
)


def gather(session: Session, ticket_ids: list[int]) -> list[Thread]:
    """The tickets of `ticket_ids` (at most db.PARAMETERS) that have a request_info, read in the
    open transaction with a few queries for all of them, in the order of `ticket_ids`."""
    tickets = {
        row.id: row
        for row in session.execute(select(Ticket.__table__).where(Ticket.id.in_(ticket_ids)))
    }
    latest = (
        select(func.max(Outbox.id))
        .where(Outbox.ticket_id.in_(ticket_ids), Outbox.kind == "request_info")
        .group_by(Outbox.ticket_id)
    )
    requests = {
        r.ticket_id: r
        for r in session.execute(select(*_REQUEST_COLUMNS).where(Outbox.id.in_(latest)))
    }
    found = [Thread(tickets[t], requests[t]) for t in ticket_ids if t in tickets and t in requests]
    _add_mail(session, found)
    _add_follow_ups(session, found)
    return found


def _add_mail(session: Session, found: list[Thread]) -> None:
    """Each one's asked email and the inbound mail stored on its ticket after it."""
    asked_ids = [w.request.caused_by for w in found if w.request.caused_by]
    asked = {
        m.id: m for m in session.execute(select(*_MESSAGE_COLUMNS).where(Message.id.in_(asked_ids)))
    }
    inbound: dict[int, list[Row]] = {}
    for m in session.execute(
        select(*_MESSAGE_COLUMNS)
        .where(Message.ticket_id.in_([w.ticket.id for w in found]), Message.direction == "in")
        .order_by(Message.id)
    ):
        inbound.setdefault(m.ticket_id, []).append(m)
    for w in found:
        w.asked = asked.get(w.request.caused_by)
        if w.asked is not None:
            w.later = [m for m in inbound.get(w.ticket.id, []) if m.id > w.asked.id]


def _add_follow_ups(session: Session, found: list[Thread]) -> None:
    """Whether each one's request has its reminder queued, or has put it on hold before."""
    ticket_ids = [w.ticket.id for w in found]
    reminded = {
        (ticket_id, caused_by)
        for ticket_id, caused_by in session.execute(
            select(Outbox.ticket_id, Outbox.caused_by).where(
                Outbox.ticket_id.in_(ticket_ids), Outbox.kind == "reminder"
            )
        )
    }
    held = {
        (ticket_id, (detail or {}).get("request"))
        for ticket_id, detail in session.execute(
            select(TicketEvent.ticket_id, TicketEvent.detail).where(
                TicketEvent.ticket_id.in_(ticket_ids),
                TicketEvent.kind == "status_changed",
                TicketEvent.by == BY,
            )
        )
    }
    for w in found:
        w.reminded = w.asked is not None and (w.ticket.id, w.asked.id) in reminded
        w.held = (w.ticket.id, w.request.message_id) in held


_TICKET = Ticket.__table__
_GUARD = (
    update(_TICKET)
    .where(
        _TICKET.c.id == bindparam("ticket_id"),
        _TICKET.c.status == bindparam("old_status"),
        _TICKET.c.updated_at == bindparam("old_updated_at"),
    )
    .values(status=bindparam("new_status"), updated_at=bindparam("new_updated_at"))
)


def guard(session: Session, tickets: list[Row], hold_at: dict[int, datetime]) -> None:
    """Lock the rows of `tickets`, checking each is as we read it (no email stored on it
    meanwhile, no other run): else TicketChanged, and the caller rolls back. Those of `hold_at`
    (ticket id -> when) are also put on hold."""
    if not tickets:
        return
    # One guarded update a row, sent as one batch (one round trip on PostgreSQL): the rows
    # updated add up to one a ticket only if each was found as it was read.
    rows = [
        {
            "ticket_id": ticket.id,
            "old_status": ticket.status,
            "old_updated_at": ticket.updated_at,
            "new_status": "on_hold" if ticket.id in hold_at else ticket.status,
            "new_updated_at": hold_at.get(ticket.id) or ticket.updated_at,
        }
        for ticket in tickets
    ]
    if session.connection().execute(_GUARD, rows).rowcount != len(rows):
        raise TicketChanged


_INSERT_EVENT = insert(TicketEvent.__table__)


def record_holds(session: Session, holds: list[tuple[int, datetime, dict]]) -> None:
    """The history events of tickets put on hold by the desk: (ticket id, when, detail)."""
    if holds:
        session.connection().execute(
            _INSERT_EVENT,
            [
                {"ticket_id": t, "at": at, "kind": "status_changed", "by": BY, "detail": detail}
                for t, at, detail in holds
            ],
        )
