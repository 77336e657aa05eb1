"""What the follow-up step reads and writes of the tickets that may be due (ingest.desk.remind):
each chunk of them read in a few set-based queries, written with guarded updates. SQLAlchemy Core
on ingest.store.tables, on the step's connection: no ORM is loaded for it (issue 22)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection, Row

from ingest.store.followups import BY, TicketChanged
from ingest.store.tables import message as _MESSAGE
from ingest.store.tables import outbox as _OUTBOX
from ingest.store.tables import ticket as _TICKET
from ingest.store.tables import ticket_event as _EVENT


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
_REQUEST_COLUMNS = tuple(
    _OUTBOX.c[name]
    for name in (
        "id",
        "ticket_id",
        "message_id",
        "state",
        "caused_by",
        "recipient",
        "to_addresses",
        "created_at",
    )
)
_MESSAGE_COLUMNS = tuple(
    _MESSAGE.c[name]
    for name in (
        "id",
        "ticket_id",
        "message_id",
        "references",
        "from_address",
        "subject",
        "auto_submitted",
        "flags",
        "received_at",
    )
)


def gather(conn: Connection, ticket_ids: list[int]) -> list[Thread]:
    """The tickets of `ticket_ids` (at most db.PARAMETERS) that have a request_info, read in the
    open transaction with a few queries for all of them, in the order of `ticket_ids`."""
    tickets = {
        row.id: row for row in conn.execute(select(_TICKET).where(_TICKET.c.id.in_(ticket_ids)))
    }
    latest = (
        select(func.max(_OUTBOX.c.id))
        .where(_OUTBOX.c.ticket_id.in_(ticket_ids), _OUTBOX.c.kind == "request_info")
        .group_by(_OUTBOX.c.ticket_id)
    )
    requests = {
        r.ticket_id: r
        for r in conn.execute(select(*_REQUEST_COLUMNS).where(_OUTBOX.c.id.in_(latest)))
    }
    found = [Thread(tickets[t], requests[t]) for t in ticket_ids if t in tickets and t in requests]
    _add_mail(conn, found)
    _add_follow_ups(conn, found)
    return found


def _add_mail(conn: Connection, found: list[Thread]) -> None:
    """Each one's asked email and the inbound mail stored on its ticket after it."""
    asked_ids = [w.request.caused_by for w in found if w.request.caused_by]
    asked = {
        m.id: m for m in conn.execute(select(*_MESSAGE_COLUMNS).where(_MESSAGE.c.id.in_(asked_ids)))
    }
    inbound: dict[int, list[Row]] = {}
    for m in conn.execute(
        select(*_MESSAGE_COLUMNS)
        .where(
            _MESSAGE.c.ticket_id.in_([w.ticket.id for w in found]),
            _MESSAGE.c.direction == "in",
        )
        .order_by(_MESSAGE.c.id)
    ):
        inbound.setdefault(m.ticket_id, []).append(m)
    for w in found:
        w.asked = asked.get(w.request.caused_by)
        if w.asked is not None:
            w.later = [m for m in inbound.get(w.ticket.id, []) if m.id > w.asked.id]


def _add_follow_ups(conn: Connection, found: list[Thread]) -> None:
    """Whether each one's request has its reminder queued, or has put it on hold before."""
    ticket_ids = [w.ticket.id for w in found]
    reminded = {
        (ticket_id, caused_by)
        for ticket_id, caused_by in conn.execute(
            select(_OUTBOX.c.ticket_id, _OUTBOX.c.caused_by).where(
                _OUTBOX.c.ticket_id.in_(ticket_ids), _OUTBOX.c.kind == "reminder"
            )
        )
    }
    held = {
        (ticket_id, (detail or {}).get("request"))
        for ticket_id, detail in conn.execute(
            select(_EVENT.c.ticket_id, _EVENT.c.detail).where(
                _EVENT.c.ticket_id.in_(ticket_ids),
                _EVENT.c.kind == "status_changed",
                _EVENT.c.by == BY,
            )
        )
    }
    for w in found:
        w.reminded = w.asked is not None and (w.ticket.id, w.asked.id) in reminded
        w.held = (w.ticket.id, w.request.message_id) in held


_GUARD = (
    update(_TICKET)
    .where(
        _TICKET.c.id == bindparam("ticket_id"),
        _TICKET.c.status == bindparam("old_status"),
        _TICKET.c.updated_at == bindparam("old_updated_at"),
    )
    .values(status=bindparam("new_status"), updated_at=bindparam("new_updated_at"))
)


def guard(conn: Connection, tickets: list[Row], hold_at: dict[int, datetime]) -> None:
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
    if conn.execute(_GUARD, rows).rowcount != len(rows):
        raise TicketChanged


_INSERT_EVENT = insert(_EVENT)


def record_holds(conn: Connection, holds: list[tuple[int, datetime, dict]]) -> None:
    """The history events of tickets put on hold by the desk: (ticket id, when, detail)."""
    if holds:
        conn.execute(
            _INSERT_EVENT,
            [
                {"ticket_id": t, "at": at, "kind": "status_changed", "by": BY, "detail": detail}
                for t, at, detail in holds
            ],
        )
