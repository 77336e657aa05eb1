"""What the digest's insight reads of the database (SPEC §12): the tickets opened in a window,
the engineers' first answers, the tickets still waiting for one, and when tickets were opened.
The digest (replies.digest_insight) finds the repeats, the response times and the daily chart."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, cast, exists, func, select, union
from sqlalchemy.engine import Connection, Row

from ingest.store.db import rows_in
from ingest.store.digest_queries import HUMAN
from ingest.store.tables import WRITTEN
from ingest.store.tables import message as _MESSAGE
from ingest.store.tables import ticket as _TICKET
from ingest.store.tables import ticket_event as _EVENT
from ingest.store.times import as_utc


def opened_tickets(conn: Connection, start: datetime, end: datetime) -> list[Row]:
    """The tickets opened in [start, end): id, pile_no, station."""
    return conn.execute(
        select(_TICKET.c.id, _TICKET.c.pile_no, _TICKET.c.station).where(
            _TICKET.c.created_at >= start, _TICKET.c.created_at < end, HUMAN
        )
    ).all()


def opened_times(conn: Connection, start: datetime, end: datetime) -> list[datetime]:
    """When each ticket opened in [start, end) was opened."""
    return (
        conn.execute(
            select(_TICKET.c.created_at).where(
                _TICKET.c.created_at >= start, _TICKET.c.created_at < end, HUMAN
            )
        )
        .scalars()
        .all()
    )


# An engineer's answer on a ticket (SPEC §12): a change their mail made (an event of one of
# `kinds` by them), or their mail on the thread, not automatic, not flagged as a forged
# engineer's, at its own time (WRITTEN: its Date, else its arrival), as a ticket's creation is
# its first mail's, so an imported history keeps its real times. The queries below find them per
# ticket through the ticket_id indexes, and those of a period through the time indexes
# (migration 0009): none reads the whole history.
_FORGED = cast(_MESSAGE.c.flags, Text).contains('"forged_engineer"', autoescape=True)


def _events_by(kinds: tuple[str, ...], addresses: list[str]) -> tuple:
    return _EVENT.c.kind.in_(kinds), func.lower(_EVENT.c.by).in_(addresses)


def _mail_by(addresses: list[str]) -> tuple:
    return (
        _MESSAGE.c.direction == "in",
        _MESSAGE.c.auto_submitted.is_(False),
        func.lower(_MESSAGE.c.from_address).in_(addresses),
        ~_FORGED,
    )


def first_answer_columns(kinds: tuple[str, ...], addresses: list[str], end: datetime) -> tuple:
    """Two columns of a query on the ticket table: when an engineer of `addresses` (lower case)
    first changed it (an event of `kinds`) and first wrote on it, before `end` (None: never)."""
    event = select(func.min(_EVENT.c.at)).where(
        _EVENT.c.ticket_id == _TICKET.c.id, *_events_by(kinds, addresses), _EVENT.c.at < end
    )
    mail = select(func.min(WRITTEN)).where(
        _MESSAGE.c.ticket_id == _TICKET.c.id, *_mail_by(addresses), WRITTEN < end
    )
    return (
        event.correlate(_TICKET).scalar_subquery().label("first_event"),
        mail.correlate(_TICKET).scalar_subquery().label("first_mail"),
    )


def earliest(*times: datetime | None) -> datetime | None:
    """The earliest of `times` that are known (as UTC), None if none is."""
    known = [as_utc(at) for at in times if at is not None]
    return min(known) if known else None


def first_answered_in(
    conn: Connection, kinds: tuple[str, ...], addresses: list[str], start: datetime, end: datetime
) -> dict[int, datetime]:
    """{ticket: when an engineer of `addresses` (lower case) first answered it} of the tickets
    whose first answer is in [start, end): those answered in it, unless answered before."""
    answered_then = union(
        select(_EVENT.c.ticket_id).where(
            *_events_by(kinds, addresses), _EVENT.c.at >= start, _EVENT.c.at < end
        ),
        select(_MESSAGE.c.ticket_id).where(*_mail_by(addresses), WRITTEN >= start, WRITTEN < end),
    )
    rows = conn.execute(
        select(_TICKET.c.id, *first_answer_columns(kinds, addresses, end)).where(
            _TICKET.c.id.in_(answered_then)
        )
    )
    first = {r.id: earliest(r.first_event, r.first_mail) for r in rows}
    return {t: at for t, at in first.items() if at is not None and start <= at < end}


def created_at(conn: Connection, ticket_ids: list[int]) -> dict[int, datetime]:
    """When each of these tickets was created."""
    return dict(rows_in(conn, select(_TICKET.c.id, _TICKET.c.created_at), _TICKET.c.id, ticket_ids))


def unanswered(
    conn: Connection,
    statuses: tuple[str, ...],
    kinds: tuple[str, ...],
    addresses: list[str],
    end: datetime,
) -> list[Row]:
    """The tickets created before `end` with one of `statuses` that no engineer of `addresses`
    (lower case) answered before `end`, oldest first: id, operator, operator_address, station,
    status, created_at."""
    # Two NOT EXISTS, not NOT (a OR b): PostgreSQL makes each an anti-join per ticket; under
    # an OR it would hash every engineer's event of the history first.
    changed = exists().where(
        _EVENT.c.ticket_id == _TICKET.c.id, *_events_by(kinds, addresses), _EVENT.c.at < end
    )
    wrote = exists().where(
        _MESSAGE.c.ticket_id == _TICKET.c.id, *_mail_by(addresses), WRITTEN < end
    )
    return conn.execute(
        select(
            _TICKET.c.id,
            _TICKET.c.operator,
            _TICKET.c.operator_address,
            _TICKET.c.station,
            _TICKET.c.status,
            _TICKET.c.created_at,
        )
        .where(_TICKET.c.status.in_(statuses), _TICKET.c.created_at < end, HUMAN, ~changed, ~wrote)
        .order_by(_TICKET.c.created_at, _TICKET.c.id)
    ).all()
