"""The follow-up step's first question (SPEC §12): which tickets' request for information may be
due a reminder or the hold. A poll cycle asks it every minute and seldom finds one, so it is
SQLAlchemy Core on ingest.store.tables; what the step then reads and writes of those tickets is in
ingest.store.followup_rows (issue 22)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, bindparam, exists, or_, select
from sqlalchemy.engine import Engine

from ingest.reading.statuses import FINISHED, STATUSES
from ingest.store.tables import outbox as _OUTBOX
from ingest.store.tables import ticket as _TICKET

BY = "gongdan"  # who the history says moved a ticket on hold


class TicketChanged(Exception):
    """The ticket changed since we read it (an email stored, another run): look again."""


# Incomplete tickets, not closed or parked, with a request_info old enough for its reminder (and
# not reminded yet) or for the hold: a superset of those due, each then decided on its own. The
# others cannot be due, and a poll cycle runs this every minute. The open statuses are named
# (not "not finished") so that the status index finds the few open tickets of a long history;
# each one's requests are then looked up by ticket.
_OPEN = tuple(s for s in STATUSES if s not in (*FINISHED, "on_hold"))
_REQUEST, _REMINDER = _OUTBOX.alias("request"), _OUTBOX.alias("reminder")
_WAITING = (
    select(_TICKET.c.id)
    .where(
        _TICKET.c.complete.is_(False),
        _TICKET.c.status.in_(_OPEN),
        exists().where(
            _REQUEST.c.ticket_id == _TICKET.c.id,
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
        ),
    )
    .order_by(_TICKET.c.id)
)


def waiting_tickets(engine: Engine, remind_before: datetime, hold_before: datetime) -> list[int]:
    """The tickets that may be due (see _WAITING), in a read of their own."""
    due = {"remind_before": remind_before, "hold_before": hold_before}
    with engine.connect() as conn:
        return list(conn.execute(_WAITING, due).scalars())
