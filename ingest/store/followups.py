"""The queries of the follow-up step (SPEC §12): tickets whose request for information may be
due a reminder or the hold, what has happened on a ticket since its request, and the guarded
write that puts a ticket on hold."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.engine import Engine

from ingest.reading.statuses import FINISHED
from ingest.store.tables import outbox as _OUTBOX
from ingest.store.tables import ticket as _TICKET

if TYPE_CHECKING:
    from sqlmodel import Session

    from ingest.store.models import Message, Outbox, Ticket

# A poll cycle asks waiting_tickets every minute and seldom finds one: it is SQLAlchemy Core on
# ingest.store.tables, and the functions below, which follow up a ticket that may be due, load
# the ORM models (issue 22).

BY = "gongdan"  # who the history says moved a ticket on hold


class TicketChanged(Exception):
    """The ticket changed since we read it (an email stored, another run): look again."""


# Incomplete tickets, not closed or parked, with a request_info old enough for its reminder (and
# not reminded yet) or for the hold: a superset of those due, each then decided on its own. The
# others cannot be due, and a poll cycle runs this every minute.
_REQUEST, _REMINDER = _OUTBOX.alias("request"), _OUTBOX.alias("reminder")
_WAITING = (
    select(_TICKET.c.id)
    .where(
        _TICKET.c.complete.is_(False),
        _TICKET.c.status.not_in((*FINISHED, "on_hold")),
        _TICKET.c.id.in_(
            select(_REQUEST.c.ticket_id).where(
                _REQUEST.c.kind == "request_info",
                or_(
                    _REQUEST.c.created_at <= bindparam("hold_before"),
                    and_(
                        _REQUEST.c.created_at <= bindparam("remind_before"),
                        ~exists().where(
                            _REMINDER.c.ticket_id == _REQUEST.c.ticket_id,
                            _REMINDER.c.kind == "reminder",
                            _REMINDER.c.caused_by == _REQUEST.c.caused_by,
                        ),
                    ),
                ),
            )
        ),
    )
    .order_by(_TICKET.c.id)
)


def waiting_tickets(engine: Engine, remind_before: datetime, hold_before: datetime) -> list[int]:
    """The tickets that may be due (see _WAITING), in a read of their own."""
    due = {"remind_before": remind_before, "hold_before": hold_before}
    with engine.connect() as conn:
        return list(conn.execute(_WAITING, due).scalars())


def latest_request(session: Session, ticket_id: int) -> tuple[Ticket, Outbox, Message | None]:
    """A ticket read afresh, its latest request_info, and the email that request answered."""
    from ingest.store.models import Message, Outbox, Ticket  # one may be due (see the top)

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
    from ingest.store.models import Message

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
    from ingest.store.models import Outbox

    found = select(Outbox.id).where(
        Outbox.ticket_id == ticket_id, Outbox.kind == kind, Outbox.caused_by == caused_by
    )
    return session.execute(found).first() is not None


def held_for(session: Session, ticket_id: int, request_id: str) -> bool:
    """Has this request put the ticket on hold before (an engineer may have taken it off)?"""
    from ingest.store.models import TicketEvent

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
    from ingest.store.models import Ticket

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
    from ingest.store.models import TicketEvent

    session.add(
        TicketEvent(ticket_id=ticket.id, at=at, kind="status_changed", by=BY, detail=detail)
    )
