"""What the digest reads of the database: the period's new and resolved tickets, the open ones,
their stop codes, the tickets per operator and the bounced replies (SPEC §12). The digest
(replies.digest_data) masks, labels and charts them. SQLAlchemy Core on ingest.store.tables: the
digest loads no ORM (issue 22)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import exists, func, or_, select
from sqlalchemy.engine import Connection, Row

from ingest.reading.display_words import FINISHED, STATUSES
from ingest.store.db import rows_in
from ingest.store.tables import message as _MESSAGE
from ingest.store.tables import outbox as _OUTBOX
from ingest.store.tables import stop_code_hit as _STOP_CODE
from ingest.store.tables import ticket as _TICKET
from ingest.store.tables import ticket_event as _EVENT
from ingest.store.times import as_utc


def person_wrote(mail=_MESSAGE):
    """A person's mail is on the ticket (`mail`: the message table, or an alias of it in a query
    that joins messages too). A ticket that only automatic mail ever wrote to (an unthreaded
    bounce or out-of-office) is kept, but it is nobody's work: the digest, stats and the review
    leave it out. The index ix_message_ticket_human answers it alone."""
    return (
        exists()
        .where(
            mail.c.ticket_id == _TICKET.c.id,
            mail.c.direction == "in",
            mail.c.auto_submitted.is_(False),
        )
        .correlate(_TICKET)
    )


HUMAN = person_wrote()


# Mail that reaches us this much after its own time still counts as new when it arrives; older
# mail (an import of last month's, a mailbox read again) keeps its own date and is not new.
LATE = timedelta(days=1)


def _arrived():
    """When a ticket's first mail reached us."""
    return (
        select(func.min(_MESSAGE.c.received_at))
        .where(_MESSAGE.c.ticket_id == _TICKET.c.id)
        .correlate(_TICKET)
        .scalar_subquery()
    )


def _new_between(start: datetime, end: datetime):
    arrived = _arrived()
    # `created_at >= start - LATE` follows from the rest: said apart, it bounds the created_at
    # index's range.
    return (
        (_TICKET.c.created_at < end)
        & (_TICKET.c.created_at >= start - LATE)
        & ((_TICKET.c.created_at >= start) | ((arrived >= start) & (arrived < end)))
    )


def new_in(start: datetime, end: datetime):
    """Tickets new in [start, end): sent in it, or sent a little earlier (LATE) and arrived in it,
    so neither a digest period's edge nor an import of old mail miscounts them."""
    return _new_between(start, end) & HUMAN


# The statuses named (not "not finished"): the status index finds the open tickets of a history.
_OPEN = tuple(s for s in STATUSES if s not in FINISHED)


def _open_at(end: datetime):
    return _TICKET.c.status.in_(_OPEN) & (_TICKET.c.created_at < end)


def is_open(end: datetime):
    return _open_at(end) & HUMAN


def resolutions(conn: Connection, start: datetime, end: datetime) -> list[tuple[int, datetime]]:
    """(ticket, when) of each resolution in [start, end): a status change to resolved, or a
    ticket whose first mail already ticked 已解决 (it never had a status change)."""
    events = conn.execute(
        select(_EVENT.c.ticket_id, _EVENT.c.at, _EVENT.c.detail).where(
            _EVENT.c.kind == "status_changed", _EVENT.c.at >= start, _EVENT.c.at < end
        )
    ).all()
    found = [(t, as_utc(at)) for t, at, detail in events if (detail or {}).get("new") == "resolved"]
    # Per ticket, through the ticket_id index: not a list of every status change ever made.
    changed = exists().where(_EVENT.c.ticket_id == _TICKET.c.id, _EVENT.c.kind == "status_changed")
    found += [
        (t, as_utc(at))
        for t, at in conn.execute(
            select(_TICKET.c.id, _TICKET.c.created_at).where(
                _TICKET.c.status == "resolved",
                _TICKET.c.created_at >= start,
                _TICKET.c.created_at < end,
                ~changed,
            )
        )
    ]
    return found


def new_count(conn: Connection, start: datetime, end: datetime) -> int:
    """Tickets new in [start, end) (new_in)."""
    return conn.execute(
        select(func.count()).select_from(_TICKET).where(new_in(start, end))
    ).scalar_one()


def per_status(conn: Connection, statuses: tuple[str, ...], end: datetime) -> dict[str, int]:
    """Tickets created before `end` per status, of those in `statuses` (one missing: none)."""
    return dict(
        conn.execute(
            select(_TICKET.c.status, func.count())
            .where(_TICKET.c.status.in_(statuses), _TICKET.c.created_at < end, HUMAN)
            .group_by(_TICKET.c.status)
        ).all()
    )


def open_total(conn: Connection, end: datetime) -> int:
    return conn.execute(select(func.count()).select_from(_TICKET).where(is_open(end))).scalar_one()


def open_ticket_rows(
    conn: Connection, end: datetime, limit: int, first_engineer: str | None = None
) -> list[Row]:
    """Open tickets oldest first (those assigned to `first_engineer` before all others): id,
    subject, description, operator, operator_address, station, order_no, status, engineer,
    created_at."""
    order = [_TICKET.c.created_at, _TICKET.c.id]
    if first_engineer:
        order.insert(0, (func.coalesce(_TICKET.c.engineer, "") != first_engineer))
    return conn.execute(
        select(
            _TICKET.c.id,
            _TICKET.c.subject,
            _TICKET.c.description,
            _TICKET.c.operator,
            _TICKET.c.operator_address,
            _TICKET.c.station,
            _TICKET.c.order_no,
            _TICKET.c.status,
            _TICKET.c.engineer,
            _TICKET.c.created_at,
        )
        .where(is_open(end))
        .order_by(*order)
        .limit(limit)
    ).all()


def stop_code_hits(conn: Connection, ticket_ids: list[int]) -> list[Row]:
    """The stop codes read in these tickets, in the order they were read: ticket_id, vendor,
    code, meaning."""
    query = select(
        _STOP_CODE.c.id,
        _STOP_CODE.c.ticket_id,
        _STOP_CODE.c.vendor,
        _STOP_CODE.c.code,
        _STOP_CODE.c.meaning,
    )
    # A month of a big desk's tickets is more than one statement may name.
    hits = rows_in(conn, query, _STOP_CODE.c.ticket_id, ticket_ids)
    return sorted(hits, key=lambda hit: hit.id)


def active_stop_codes(conn: Connection, start: datetime, end: datetime) -> list[Row]:
    """Stop codes of the tickets active in [start, end) (created or updated in it), with the
    tickets each was read in: meaning, vendor, code, tickets."""
    active = (
        or_(
            (_TICKET.c.created_at >= start) & (_TICKET.c.created_at < end),
            (_TICKET.c.updated_at >= start) & (_TICKET.c.updated_at < end),
        )
        & HUMAN
    )
    return conn.execute(
        select(
            _STOP_CODE.c.meaning,
            _STOP_CODE.c.vendor,
            _STOP_CODE.c.code,
            func.count(func.distinct(_STOP_CODE.c.ticket_id)),
        )
        .join(_TICKET, _TICKET.c.id == _STOP_CODE.c.ticket_id)
        .where(active)
        .group_by(_STOP_CODE.c.meaning, _STOP_CODE.c.vendor, _STOP_CODE.c.code)
    ).all()


def per_operator(conn: Connection, start: datetime, end: datetime) -> list[tuple[str, int]]:
    """(operator, tickets) of the tickets open at `end` or new in [start, end): the operator's
    name, else its address."""
    operator = func.coalesce(func.nullif(_TICKET.c.operator, ""), _TICKET.c.operator_address)
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
        select(_OUTBOX.c.ticket_id, _OUTBOX.c.kind, _OUTBOX.c.to_addresses, _OUTBOX.c.last_error)
        .add_columns(_OUTBOX.c.bounced_at)
        .where(
            _OUTBOX.c.state == "bounced", _OUTBOX.c.bounced_at >= start, _OUTBOX.c.bounced_at < end
        )
        .order_by(_OUTBOX.c.bounced_at, _OUTBOX.c.id)
    ).all()


def held_rows(conn: Connection, end: datetime, limit: int) -> tuple[list[Row], int]:
    """Replies the daily limit held back, made by `end` and not released, oldest first (at
    most `limit`: ticket_id, kind, to_addresses, created_at), and how many there are."""
    held = (_OUTBOX.c.state == "held", _OUTBOX.c.created_at <= end)
    rows = conn.execute(
        select(_OUTBOX.c.ticket_id, _OUTBOX.c.kind, _OUTBOX.c.to_addresses, _OUTBOX.c.created_at)
        .where(*held)
        .order_by(_OUTBOX.c.created_at, _OUTBOX.c.id)
        .limit(limit)
    ).all()
    total = conn.execute(select(func.count()).select_from(_OUTBOX).where(*held)).scalar_one()
    return rows, total
