"""The queries of the follow-up step (SPEC §12): tickets whose request for information may be
due a reminder or the hold, what has happened on a ticket since its request, and the guarded
write that puts a ticket on hold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session

from ingest.reading.display_words import FINISHED
from ingest.store.models import Message, Outbox, Ticket, TicketEvent

BY = "gongdan"  # who the history says moved a ticket on hold


class TicketChanged(Exception):
    """The ticket changed since we read it (an email stored, another run): look again."""


# Incomplete tickets, not closed or parked, with a request_info old enough for its reminder (and
# not reminded yet) or for the hold: a superset of those due, each then decided on its own. The
# others cannot be due, and a poll cycle runs this every minute.
_REQUEST, _REMINDER = aliased(Outbox), aliased(Outbox)
_WAITING = (
    select(Ticket.id)
    .where(
        Ticket.complete.is_(False),
        Ticket.status.not_in((*FINISHED, "on_hold")),
        Ticket.id.in_(
            select(_REQUEST.ticket_id).where(
                _REQUEST.kind == "request_info",
                or_(
                    _REQUEST.created_at <= bindparam("hold_before"),
                    and_(
                        _REQUEST.created_at <= bindparam("remind_before"),
                        ~exists().where(
                            _REMINDER.ticket_id == _REQUEST.ticket_id,
                            _REMINDER.kind == "reminder",
                            _REMINDER.caused_by == _REQUEST.caused_by,
                        ),
                    ),
                ),
            )
        ),
    )
    .order_by(Ticket.id)
)


def waiting_tickets(session: Session, remind_before: datetime, hold_before: datetime) -> list[int]:
    """The tickets that may be due (see _WAITING); the read ends at once."""
    due = {"remind_before": remind_before, "hold_before": hold_before}
    ticket_ids = list(session.execute(_WAITING, due).scalars())
    session.rollback()
    return ticket_ids


def latest_request(session: Session, ticket_id: int) -> tuple[Ticket, Outbox, Message | None]:
    """A ticket read afresh, its latest request_info, and the email that request answered."""
    ticket = session.get(Ticket, ticket_id, populate_existing=True)
    request = session.execute(
        select(Outbox)
        .where(Outbox.ticket_id == ticket_id, Outbox.kind == "request_info")
        .order_by(Outbox.id.desc())
        .limit(1)
    ).scalar()
    asked = session.get(Message, request.caused_by) if request.caused_by else None
    return ticket, request, asked


def inbound_since(session: Session, ticket_id: int, message_db_id: int) -> list[Message]:
    return list(
        session.execute(
            select(Message)
            .where(
                Message.ticket_id == ticket_id,
                Message.direction == "in",
                Message.id > message_db_id,
            )
            .order_by(Message.id)
        ).scalars()
    )


def queued(session: Session, ticket_id: int, kind: str, caused_by: int) -> bool:
    found = select(Outbox.id).where(
        Outbox.ticket_id == ticket_id, Outbox.kind == kind, Outbox.caused_by == caused_by
    )
    return session.execute(found).first() is not None


def held_for(session: Session, ticket_id: int, request_id: str) -> bool:
    """Has this request put the ticket on hold before (an engineer may have taken it off)?"""
    events = session.execute(
        select(TicketEvent.detail).where(
            TicketEvent.ticket_id == ticket_id,
            TicketEvent.kind == "status_changed",
            TicketEvent.by == BY,
        )
    ).scalars()
    return any((detail or {}).get("request") == request_id for detail in events)


def guard(session: Session, ticket: Ticket, hold_at: datetime | None) -> None:
    """Lock the ticket's row, checking it is as we read it (no email stored on it meanwhile, no
    other run): else TicketChanged. With `hold_at`, also put it on hold."""
    values = {"status": "on_hold", "updated_at": hold_at} if hold_at else {"status": ticket.status}
    done = (
        session.connection()
        .execute(
            update(Ticket.__table__)
            .where(
                Ticket.id == ticket.id,
                Ticket.status == ticket.status,
                Ticket.updated_at == ticket.updated_at,
            )
            .values(**values)
        )
        .rowcount
    )
    if not done:
        raise TicketChanged


def record_hold(session: Session, ticket: Ticket, at: datetime, detail: dict) -> None:
    """The history event of a ticket put on hold by the desk."""
    session.add(
        TicketEvent(ticket_id=ticket.id, at=at, kind="status_changed", by=BY, detail=detail)
    )
