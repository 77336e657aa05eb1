"""The stored tickets as `gongdan tickets list|show` (and the demo) show them: plain data."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from ingest.reading.attachments import Attachment, attachments_of
from ingest.store.export import export
from ingest.store.models import Message, StopCodeHit, Ticket, iso
from ingest.store.ticket_rows import STOP_CODE_KEYS

OPEN = ("waiting_info", "in_progress", "on_hold")  # what `tickets list` shows by default
CHUNK = 500  # rows fetched from the cursor at a time; their stop codes are read in one query
_COLUMNS = (
    Ticket.id,
    Ticket.subject,
    Ticket.template,
    Ticket.status,
    Ticket.engineer,
    Ticket.operator,
    Ticket.operator_address,
    Ticket.station,
    Ticket.order_no,
    Ticket.missing,
    Ticket.complete,
    Ticket.waiting_on,
    Ticket.related,
    Ticket.created_at,
    Ticket.updated_at,
)


def _where(statuses: Sequence[str] | None, operator: str | None, since: datetime | None) -> list:
    where = []
    if statuses is not None:
        where.append(Ticket.status.in_(list(statuses)))
    if operator:
        like = f"%{operator}%"
        where.append(Ticket.operator.like(like) | Ticket.operator_address.like(like))
    if since:
        where.append(Ticket.created_at >= since)
    return where


def count_tickets(
    session: Session,
    statuses: Sequence[str] | None = None,
    operator: str | None = None,
    since: datetime | None = None,
) -> int:
    """How many tickets `ticket_summaries` would give with no limit or offset."""
    query = sa_select(func.count()).select_from(Ticket).where(*_where(statuses, operator, since))
    return session.connection().execute(query).scalar_one()


def _summary(row, codes: list[dict]) -> dict:
    summary = dict(row._mapping)
    summary["related"] = list(summary["related"] or [])
    summary["stop_codes"] = codes
    summary["created_at"] = iso(summary["created_at"])
    summary["updated_at"] = iso(summary["updated_at"])
    return summary


def ticket_summaries(
    session: Session,
    statuses: Sequence[str] | None = None,
    operator: str | None = None,
    since: datetime | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Iterator[dict]:
    """The tickets, oldest first, as they are read: only those whose status is in `statuses`
    (None: every status), whose operator name or address contains `operator`, created on or after
    `since`; `offset` skipped, at most `limit`. Rows come from a streamed cursor CHUNK at a time
    (a server-side cursor on PostgreSQL), so memory stays flat however many tickets there are."""
    query = sa_select(*_COLUMNS).where(*_where(statuses, operator, since)).order_by(Ticket.id)
    query = query.offset(offset or None).limit(limit)
    conn = session.connection()
    result = conn.execute(query.execution_options(stream_results=True, yield_per=CHUNK))
    for rows in result.partitions():
        codes = _stop_codes(conn, [row.id for row in rows])
        for row in rows:
            yield _summary(row, codes.get(row.id, []))


def _stop_codes(conn, ids: list[int]) -> dict[int, list[dict]]:
    """The stop codes of these tickets, each ticket's in the order they were first seen."""
    query = (
        sa_select(StopCodeHit.ticket_id, *(getattr(StopCodeHit, k) for k in STOP_CODE_KEYS))
        .where(StopCodeHit.ticket_id.in_(ids))
        .order_by(StopCodeHit.id)
    )
    codes: dict[int, list[dict]] = {}
    for ticket_id, *hit in conn.execute(query):
        codes.setdefault(ticket_id, []).append(dict(zip(STOP_CODE_KEYS, hit, strict=True)))
    return codes


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
