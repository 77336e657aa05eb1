"""The monthly review's times (SPEC §13): how long tickets took to be resolved, per pile,
station or operator, and per engineer the tickets taken, first responses, resolutions and
reopenings of a period."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection

from ingest.store import insight_queries as insight
from ingest.store.digest_queries import HUMAN as _HUMAN
from ingest.store.tables import ticket as _TICKET
from ingest.store.tables import ticket_event as _EVENT
from ingest.store.times import as_utc

ENGINEER_KEYS = (
    "engineer",
    "taken",
    "first_response_median_hours",
    "first_response_p90_hours",
    "resolved",
    "resolution_median_hours",
    "reopened",
)
# An engineer's own changes on a ticket, which answer it as their mail does.
ENGINEER_EVENTS = ("status_changed", "assigned", "note", "answered")


def quantile(values: list[timedelta], q: float) -> timedelta | None:
    """Linear interpolation between the closest ranks (Excel's PERCENTILE.INC); None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def hours(span: timedelta | None) -> float | None:
    return None if span is None else round(span.total_seconds() / 3600, 1)


def resolutions(conn: Connection, key, start: datetime, end: datetime) -> dict:
    """{key: [time from creation to resolution]} of the tickets resolved in [start, end) (the
    last time in it their status became resolved; a ticket born resolved took no time)."""
    resolved_at = func.max(_EVENT.c.at).label("at")
    changed = conn.execute(
        select(key.label("key"), _TICKET.c.id, _TICKET.c.created_at, resolved_at)
        .join(_EVENT, _EVENT.c.ticket_id == _TICKET.c.id)
        .where(
            _EVENT.c.kind == "status_changed",
            _EVENT.c.detail["new"].as_string() == "resolved",
            _EVENT.c.at >= start,
            _EVENT.c.at < end,
            _HUMAN,
        )
        .group_by(key, _TICKET.c.id, _TICKET.c.created_at)
    ).all()
    spans = defaultdict(list)
    for r in changed:
        spans[r.key].append(max(timedelta(0), as_utc(r.at) - as_utc(r.created_at)))
    never_changed = (
        ~select(_EVENT.c.id)
        .where(_EVENT.c.ticket_id == _TICKET.c.id, _EVENT.c.kind == "status_changed")
        .exists()
    )
    born = conn.execute(
        select(key.label("key")).where(
            _TICKET.c.status == "resolved",
            _TICKET.c.created_at >= start,
            _TICKET.c.created_at < end,
            never_changed,
            _HUMAN,
        )
    ).all()
    for r in born:
        spans[r.key].append(timedelta(0))
    return spans


def resolution_medians(conn: Connection, key, start: datetime, end: datetime) -> dict:
    """{the `key` column's value: median hours to resolution} of the tickets resolved in the
    period."""
    spans = resolutions(conn, key, as_utc(start), as_utc(end))
    return {k: hours(quantile(v, 0.5)) for k, v in spans.items()}


def by_engineer(
    conn: Connection, start: datetime, end: datetime, engineer_addresses: list[str]
) -> list[dict]:
    """Per engineer (the ticket's engineer now; None: unassigned) the tickets taken in [start,
    end) — opened then, or assigned to them then — the median and 90th percentile of the time
    from their creation to an engineer's first answer, the tickets resolved in the period and
    the median time to resolve them, and the tickets reopened in the period."""
    start, end = as_utc(start), as_utc(end)
    # Each through its time index: the tickets created then, and those assigned then.
    assigned_then = select(_EVENT.c.ticket_id).where(
        _EVENT.c.kind == "assigned", _EVENT.c.at >= start, _EVENT.c.at < end
    )
    opened_then = and_(_TICKET.c.created_at >= start, _TICKET.c.created_at < end)
    addresses = sorted({a.lower() for a in engineer_addresses})
    # With each ticket, when an engineer first answered it (before `end`): their changes, and
    # their mail on the thread (not automatic, not flagged as a forged engineer's).
    first = insight.first_answer_columns(ENGINEER_EVENTS, addresses, end)
    taken = conn.execute(
        select(_TICKET.c.engineer, _TICKET.c.id, _TICKET.c.created_at, *first).where(
            or_(opened_then, _TICKET.c.id.in_(assigned_then)), _HUMAN
        )
    ).all()
    reopened = conn.execute(
        select(_TICKET.c.engineer, func.count(func.distinct(_TICKET.c.id)))
        .join(_EVENT, _EVENT.c.ticket_id == _TICKET.c.id)
        .where(_EVENT.c.kind == "reopened", _EVENT.c.at >= start, _EVENT.c.at < end)
        .group_by(_TICKET.c.engineer)
    ).all()
    resolved = resolutions(conn, _TICKET.c.engineer, start, end)
    waits, counts = defaultdict(list), defaultdict(int)
    for r in taken:
        counts[r.engineer] += 1
        answered = insight.earliest(r.first_event, r.first_mail)
        if answered is not None:
            waits[r.engineer].append(max(timedelta(0), answered - as_utc(r.created_at)))
    reopen_counts = dict(reopened)
    rows = []
    for name in counts.keys() | resolved.keys() | reopen_counts.keys():
        rows.append(
            {
                "engineer": name,
                "taken": counts.get(name, 0),
                "first_response_median_hours": hours(quantile(waits[name], 0.5)),
                "first_response_p90_hours": hours(quantile(waits[name], 0.9)),
                "resolved": len(resolved.get(name, [])),
                "resolution_median_hours": hours(quantile(resolved.get(name, []), 0.5)),
                "reopened": reopen_counts.get(name, 0),
            }
        )
    return sorted(rows, key=lambda r: (r["engineer"] is None, -r["taken"], r["engineer"] or ""))
