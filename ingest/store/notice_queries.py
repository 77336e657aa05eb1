"""What the engineers' notices read (SPEC §13): the mail a poll cycle stored at its `now` on
tickets, and those tickets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import aliased
from sqlmodel import Session

from ingest.store.db import chunks
from ingest.store.models import Message, Ticket

_first = aliased(Message)
# A ticket's first incoming mail opened it: what follows it is a follow-up.
_FIRST_ID = (
    select(func.min(_first.id))
    .where(_first.ticket_id == Message.ticket_id, _first.direction == "in")
    .scalar_subquery()
)


def followups_stored_at(session: Session, now: datetime) -> list[Message]:
    """Incoming, not automatic mail stored at `now` that continues a ticket, oldest first."""
    return list(
        session.scalars(
            select(Message)
            .where(
                Message.received_at == now,
                Message.direction == "in",
                Message.ticket_id.is_not(None),
                Message.auto_submitted.is_(False),
                Message.id != _FIRST_ID,
            )
            .order_by(Message.id)
        )
    )


def tickets_by_id(session: Session, ids: list[int]) -> dict[int, Ticket]:
    """The tickets `ids`, by id (in statements of bounded size)."""
    found = {}
    for part in chunks(sorted(set(ids))):
        if part:
            tickets = session.scalars(select(Ticket).where(Ticket.id.in_(part)))
            found.update((t.id, t) for t in tickets)
    return found
