"""What the digest reads of the database: the period's new and resolved tickets, the open ones,
their stop codes, the tickets per operator and the bounced replies (SPEC §12). The digest
(replies.digest_data) masks, labels and charts them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select
from sqlalchemy.engine import Connection, Row

from ingest.reading.display_words import FINISHED, STATUSES
from ingest.store.db import rows_in
from ingest.store.models import Message, Outbox, StopCodeHit, Ticket, TicketEvent, as_utc

# A ticket that only automatic mail ever wrote to (an unthreaded bounce or out-of-office) is
# kept, but it is nobody's work: the digest leaves it out.
HUMAN = exists().where(
    Message.ticket_id == Ticket.id, Message.direction == "in", Message.auto_submitted.is_(False)
)


# Mail that reaches us this much after its own time still counts as new when it arrives; older
# mail (an import of last month's, a mailbox read again) keeps its own date and is not new.
LATE = timedelta(days=1)


def _arrived():
    """When a ticket's first mail reached us."""
    return (
        select(func.min(Message.received_at))
        .where(Message.ticket_id == Ticket.id)
        .correlate(Ticket)
        .scalar_subquery()
    )


def _new_between(start: datetime, end: datetime):
    arrived = _arrived()
    # `created_at >= start - LATE` follows from the rest: said apart, it bounds the created_at
    # index's range.
    return (
        (Ticket.created_at < end)
        & (Ticket.created_at >= start - LATE)
        & ((Ticket.created_at >= start) | ((arrived >= start) & (arrived < end)))
    )


def new_in(start: datetime, end: datetime):
    """Tickets new in [start, end): sent in it, or sent a little earlier (LATE) and arrived in it,
    so neither a digest period's edge nor an import of old mail miscounts them."""
    return _new_between(start, end) & HUMAN


# The statuses named (not "not finished"): the status index finds the open tickets of a history.
_OPEN = tuple(s for s in STATUSES if s not in FINISHED)


def _open_at(end: datetime):
    return Ticket.status.in_(_OPEN) & (Ticket.created_at < end)


def is_open(end: datetime):
    return _open_at(end) & HUMAN


def resolutions(conn: Connection, start: datetime, end: datetime) -> list[tuple[int, datetime]]:
    """(ticket, when) of each resolution in [start, end): a status change to resolved, or a
    ticket whose first mail already ticked 已解决 (it never had a status change)."""
    events = conn.execute(
        select(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.detail).where(
            TicketEvent.kind == "status_changed", TicketEvent.at >= start, TicketEvent.at < end
        )
    ).all()
    found = [(t, as_utc(at)) for t, at, detail in events if (detail or {}).get("new") == "resolved"]
    # Per ticket, through the ticket_id index: not a list of every status change ever made.
    changed = exists().where(
        TicketEvent.ticket_id == Ticket.id, TicketEvent.kind == "status_changed"
    )
    found += [
        (t, as_utc(at))
        for t, at in conn.execute(
            select(Ticket.id, Ticket.created_at).where(
                Ticket.status == "resolved",
                Ticket.created_at >= start,
                Ticket.created_at < end,
                ~changed,
            )
        )
    ]
    return found


def new_count(conn: Connection, start: datetime, end: datetime) -> int:
    """Tickets new in [start, end) (new_in)."""
    return conn.execute(
        select(func.count()).select_from(Ticket.__table__).where(new_in(start, end))
    ).scalar_one()


def per_status(conn: Connection, statuses: tuple[str, ...], end: datetime) -> dict[str, int]:
    """Tickets created before `end` per status, of those in `statuses` (one missing: none)."""
    return dict(
        conn.execute(
            select(Ticket.status, func.count())
            .where(Ticket.status.in_(statuses), Ticket.created_at < end, HUMAN)
            .group_by(Ticket.status)
        ).all()
    )


def open_total(conn: Connection, end: datetime) -> int:
    return conn.execute(
        select(func.count()).select_from(Ticket.__table__).where(is_open(end))
    ).scalar_one()


def open_ticket_rows(
    conn: Connection, end: datetime, limit: int, first_engineer: str | None = None
) -> list[Row]:
    """Open tickets oldest first (those assigned to `first_engineer` before all others): id,
    subject, description, operator, operator_address, station, order_no, status, engineer,
    created_at."""
    order = [Ticket.created_at, Ticket.id]
    if first_engineer:
        order.insert(0, (func.coalesce(Ticket.engineer, "") != first_engineer))
    return conn.execute(
        select(
            Ticket.id,
            Ticket.subject,
            Ticket.description,
            Ticket.operator,
            Ticket.operator_address,
            Ticket.station,
            Ticket.order_no,
            Ticket.status,
            Ticket.engineer,
            Ticket.created_at,
        )
        .where(is_open(end))
        .order_by(*order)
        .limit(limit)
    ).all()


def stop_code_hits(conn: Connection, ticket_ids: list[int]) -> list[Row]:
    """The stop codes read in these tickets, in the order they were read: ticket_id, vendor,
    code, meaning."""
    query = select(
        StopCodeHit.id,
        StopCodeHit.ticket_id,
        StopCodeHit.vendor,
        StopCodeHit.code,
        StopCodeHit.meaning,
    )
    # A month of a big desk's tickets is more than one statement may name.
    hits = rows_in(conn, query, StopCodeHit.ticket_id, ticket_ids)
    return sorted(hits, key=lambda hit: hit.id)


def active_stop_codes(conn: Connection, start: datetime, end: datetime) -> list[Row]:
    """Stop codes of the tickets active in [start, end) (created or updated in it), with the
    tickets each was read in: meaning, vendor, code, tickets."""
    active = (
        or_(
            (Ticket.created_at >= start) & (Ticket.created_at < end),
            (Ticket.updated_at >= start) & (Ticket.updated_at < end),
        )
        & HUMAN
    )
    return conn.execute(
        select(
            StopCodeHit.meaning,
            StopCodeHit.vendor,
            StopCodeHit.code,
            func.count(func.distinct(StopCodeHit.ticket_id)),
        )
        .join(Ticket, Ticket.id == StopCodeHit.ticket_id)
        .where(active)
        .group_by(StopCodeHit.meaning, StopCodeHit.vendor, StopCodeHit.code)
    ).all()


def per_operator(conn: Connection, start: datetime, end: datetime) -> list[tuple[str, int]]:
    """(operator, tickets) of the tickets open at `end` or new in [start, end): the operator's
    name, else its address."""
    operator = func.coalesce(func.nullif(Ticket.operator, ""), Ticket.operator_address)
    # HUMAN once, outside the OR: PostgreSQL would otherwise test it on every ticket ever made.
    return conn.execute(
        select(operator, func.count())
        .where(or_(_open_at(end), _new_between(start, end)), HUMAN)
        .group_by(operator)
    ).all()


def bounced_rows(conn: Connection, start: datetime, end: datetime) -> list[Row]:
    """Replies whose delivery failure report came back in [start, end), oldest first:
    ticket_id, kind, to_addresses, last_error, bounced_at."""
    return conn.execute(
        select(Outbox.ticket_id, Outbox.kind, Outbox.to_addresses, Outbox.last_error)
        .add_columns(Outbox.bounced_at)
        .where(Outbox.state == "bounced", Outbox.bounced_at >= start, Outbox.bounced_at < end)
        .order_by(Outbox.bounced_at, Outbox.id)
    ).all()


def held_rows(conn: Connection, end: datetime, limit: int) -> tuple[list[Row], int]:
    """Replies the daily limit held back, made by `end` and not released, oldest first (at
    most `limit`: ticket_id, kind, to_addresses, created_at), and how many there are."""
    held = (Outbox.state == "held", Outbox.created_at <= end)
    rows = conn.execute(
        select(Outbox.ticket_id, Outbox.kind, Outbox.to_addresses, Outbox.created_at)
        .where(*held)
        .order_by(Outbox.created_at, Outbox.id)
        .limit(limit)
    ).all()
    total = conn.execute(select(func.count()).select_from(Outbox).where(*held)).scalar_one()
    return rows, total
