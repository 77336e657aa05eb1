"""The digest's tickets waiting for the team (SPEC §13), for its section 运营商来信待回复."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select

from ingest.store.db import Connection
from ingest.store.tables import message as _MESSAGE
from ingest.store.tables import ticket as _TICKET

OPEN = ("waiting_info", "in_progress", "on_hold")


def waiting_for_team(conn: Connection, end: datetime, limit: int) -> tuple[list, dict, int]:
    """Open tickets waiting for the team by `end`, oldest first (at most `limit`: id, subject),
    each one's incoming messages in order (id, from_address, text, sent_at, auto_submitted,
    flags), and how many such tickets there are."""
    waiting = (
        _TICKET.c.waiting_on == "team",
        _TICKET.c.status.in_(OPEN),
        _TICKET.c.created_at <= end,
    )
    tickets = conn.execute(
        select(_TICKET.c.id, _TICKET.c.subject).where(*waiting).order_by(_TICKET.c.id).limit(limit)
    ).all()
    total = conn.execute(select(func.count()).select_from(_TICKET).where(*waiting)).scalar_one()
    messages: dict[int, list] = defaultdict(list)
    if tickets:
        rows = conn.execute(
            select(
                _MESSAGE.c.ticket_id,
                _MESSAGE.c.from_address,
                _MESSAGE.c.text,
                _MESSAGE.c.sent_at,
                _MESSAGE.c.received_at,
                _MESSAGE.c.auto_submitted,
                _MESSAGE.c.flags,
            )
            .where(
                _MESSAGE.c.ticket_id.in_([t.id for t in tickets]),
                _MESSAGE.c.direction == "in",
                _MESSAGE.c.received_at <= end,
            )
            .order_by(_MESSAGE.c.id)
        )
        for row in rows:
            messages[row.ticket_id].append(row)
    return tickets, messages, total
