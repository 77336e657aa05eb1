"""The stored tickets as `gongdan tickets list|show` (and the demo) show them: plain data."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, select

from ingest.reading.attachments import Attachment, attachments_of
from ingest.store.export import export
from ingest.store.models import Message, Ticket, iso
from ingest.store.ticket_rows import stop_codes_of


def _query_tickets(
    session: Session,
    status: str | None = None,
    operator: str | None = None,
    since: datetime | None = None,
    closed: bool = True,
):
    query = select(Ticket).order_by(Ticket.id)
    if not closed:
        query = query.where(Ticket.status != "closed")
    if status:
        query = query.where(Ticket.status == status)
    if operator:
        like = f"%{operator}%"
        query = query.where((Ticket.operator.like(like)) | (Ticket.operator_address.like(like)))
    if since:
        query = query.where(Ticket.created_at >= since)
    return session.exec(query)


def _ticket_summary(session: Session, ticket: Ticket) -> dict:
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "template": ticket.template,
        "status": ticket.status,
        "engineer": ticket.engineer,
        "operator": ticket.operator,
        "operator_address": ticket.operator_address,
        "station": ticket.station,
        "order_no": ticket.order_no,
        "missing": ticket.missing,
        "complete": ticket.complete,
        "waiting_on": ticket.waiting_on,
        "related": list(ticket.related or []),
        "stop_codes": stop_codes_of(session, ticket.id),
        "created_at": iso(ticket.created_at),
        "updated_at": iso(ticket.updated_at),
    }


def ticket_summaries(
    session: Session,
    status: str | None = None,
    operator: str | None = None,
    since: datetime | None = None,
    closed: bool = False,
) -> list[dict]:
    """The tickets, oldest first: only those with `status`, whose operator name or address
    contains `operator`, created on or after `since`, when given; closed ones only if
    `closed`."""
    return [
        _ticket_summary(session, ticket)
        for ticket in _query_tickets(session, status, operator, since, closed)
    ]


def ticket_detail(session: Session, number: int) -> dict | None:
    """Ticket `number` whole as `export` writes it, plus the subject, order time and invalid
    fields; None when there is no such ticket."""
    ticket = session.get(Ticket, number)
    if ticket is None:
        return None
    exported = next(export(session.connection(), ticket_id=ticket.id))
    return {
        **exported,
        "subject": ticket.subject,
        "order_time": iso(ticket.order_time),
        "invalid": ticket.invalid,
        "closed_reason": ticket.closed_reason,
        "merged_into": ticket.merged_into,
    }


def ticket_attachments(session: Session, number: int) -> list[Attachment] | None:
    """Ticket `number`'s attachments with their bytes, numbered from 1 in the order `tickets show`
    lists them (its messages in order); None when there is no such ticket."""
    if session.get(Ticket, number) is None:
        return None
    raws = session.exec(select(Message.raw).where(Message.ticket_id == number).order_by(Message.id))
    return [a for raw in raws for a in attachments_of(raw, keep_data=True)]
