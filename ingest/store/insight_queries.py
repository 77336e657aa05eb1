"""What the digest's insight reads of the database (SPEC §12): the tickets opened in a window,
the engineers' first answers, the tickets waiting for one, and when tickets were opened. The
digest (replies.digest_insight) finds the repeats, the response times and the daily chart."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Row

from ingest.store.digest_queries import HUMAN
from ingest.store.models import Message, Ticket, TicketEvent


def opened_tickets(conn: Connection, start: datetime, end: datetime) -> list[Row]:
    """The tickets opened in [start, end): id, pile_no, station."""
    return conn.execute(
        select(Ticket.id, Ticket.pile_no, Ticket.station).where(
            Ticket.created_at >= start, Ticket.created_at < end, HUMAN
        )
    ).all()


def opened_times(conn: Connection, start: datetime, end: datetime) -> list[datetime]:
    """When each ticket opened in [start, end) was opened."""
    return (
        conn.execute(
            select(Ticket.created_at).where(
                Ticket.created_at >= start, Ticket.created_at < end, HUMAN
            )
        )
        .scalars()
        .all()
    )


def first_events_by(
    conn: Connection, kinds: tuple[str, ...], addresses: list[str], end: datetime
) -> list[tuple[int, datetime]]:
    """(ticket, when) of the first event of one of `kinds` before `end` that mail from one of
    `addresses` (lower case) made on each ticket."""
    return conn.execute(
        select(TicketEvent.ticket_id, func.min(TicketEvent.at))
        .where(
            TicketEvent.kind.in_(kinds),
            func.lower(TicketEvent.by).in_(addresses),
            TicketEvent.at < end,
        )
        .group_by(TicketEvent.ticket_id)
    ).all()


def mail_from(conn: Connection, addresses: list[str], end: datetime) -> list[tuple]:
    """(ticket, written, flags) of the mail on a ticket from one of `addresses` (lower case),
    not automatic, written before `end`: at its own time (its Date, else its arrival), as a
    ticket's creation is its first mail's, so an imported history keeps its real times."""
    written = func.coalesce(Message.sent_at, Message.received_at)
    return conn.execute(
        select(Message.ticket_id, written, Message.flags).where(
            Message.ticket_id.is_not(None),
            Message.direction == "in",
            Message.auto_submitted.is_(False),
            func.lower(Message.from_address).in_(addresses),
            written < end,
        )
    ).all()


def created_at(conn: Connection, ticket_ids: list[int]) -> dict[int, datetime]:
    """When each of these tickets was created."""
    if not ticket_ids:
        return {}
    return dict(
        conn.execute(select(Ticket.id, Ticket.created_at).where(Ticket.id.in_(ticket_ids))).all()
    )


def tickets_in(conn: Connection, statuses: tuple[str, ...], end: datetime) -> list[Row]:
    """The tickets created before `end` with one of `statuses`, oldest first: id, operator,
    operator_address, station, status, created_at."""
    return conn.execute(
        select(
            Ticket.id,
            Ticket.operator,
            Ticket.operator_address,
            Ticket.station,
            Ticket.status,
            Ticket.created_at,
        )
        .where(Ticket.status.in_(statuses), Ticket.created_at < end, HUMAN)
        .order_by(Ticket.created_at, Ticket.id)
    ).all()
