"""The digest's tickets waiting for the team (SPEC §13), for its section 运营商来信待回复."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select

from ingest.store.db import Connection
from ingest.store.models import Message, Ticket

OPEN = ("waiting_info", "in_progress", "on_hold")


def waiting_for_team(conn: Connection, end: datetime, limit: int) -> tuple[list, dict, int]:
    """Open tickets waiting for the team by `end`, oldest first (at most `limit`: id, subject),
    each one's incoming messages in order (id, from_address, text, sent_at, auto_submitted,
    flags), and how many such tickets there are."""
    waiting = (Ticket.waiting_on == "team", Ticket.status.in_(OPEN), Ticket.created_at <= end)
    tickets = conn.execute(
        select(Ticket.id, Ticket.subject).where(*waiting).order_by(Ticket.id).limit(limit)
    ).all()
    total = len(conn.execute(select(Ticket.id).where(*waiting)).all())
    messages: dict[int, list] = defaultdict(list)
    if tickets:
        rows = conn.execute(
            select(
                Message.ticket_id,
                Message.from_address,
                Message.text,
                Message.sent_at,
                Message.received_at,
                Message.auto_submitted,
                Message.flags,
            )
            .where(
                Message.ticket_id.in_([t.id for t in tickets]),
                Message.direction == "in",
                Message.received_at <= end,
            )
            .order_by(Message.id)
        )
        for row in rows:
            messages[row.ticket_id].append(row)
    return tickets, messages, total
