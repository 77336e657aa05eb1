"""What the digest adds to the counts (SPEC §12): repeat faults, engineers' response times and
the tickets waiting for one, and tickets opened and resolved per day."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ingest.reading.labels import age_zh, status_label
from ingest.store.models import Message, StopCodeHit, Ticket, TicketEvent, as_utc
from replies.digest_queries import DISPLAY_TZ, HUMAN, code_label, resolutions, safe

# An engineer's mail that changed the ticket leaves one of these events (ingest.store.tickets).
ENGINEER_EVENTS = ("status_changed", "assigned", "note")
# Waiting for an engineer: open and not waiting for the operator's information.
ENGINEER_TURN = ("in_progress", "on_hold")
WAITING_LIMIT = 10  # tickets listed as waiting longest for an engineer
DAYS = 14  # the opened/resolved chart


def _group_key(value: str | None) -> str:
    """Two spellings of one pile or station number: spacing and letter case do not count."""
    return " ".join((value or "").split()).upper()


def repeat_faults(conn: Connection, end: datetime, window: timedelta, threshold: int) -> list[dict]:
    """Piles, stations and stop codes with at least `threshold` tickets opened in the
    `window` before `end`, most tickets first; each with its tickets and their stop codes."""
    tickets = conn.execute(
        select(Ticket.id, Ticket.pile_no, Ticket.station).where(
            Ticket.created_at >= end - window, Ticket.created_at < end, HUMAN
        )
    ).all()
    codes: dict[int, list[str]] = defaultdict(list)
    by_code: dict[tuple, set[int]] = defaultdict(set)
    if tickets:
        for hit in conn.execute(
            select(StopCodeHit.ticket_id, StopCodeHit.vendor, StopCodeHit.code, StopCodeHit.meaning)
            .where(StopCodeHit.ticket_id.in_([t.id for t in tickets]))
            .order_by(StopCodeHit.id)
        ):
            text = code_label(hit.code, hit.meaning, hit.vendor)
            if text not in codes[hit.ticket_id]:
                codes[hit.ticket_id].append(text)
            by_code[(hit.vendor, hit.code, text)].add(hit.ticket_id)
    groups: list[tuple[str, str, set[int]]] = []
    for kind, column in (("pile", "pile_no"), ("station", "station")):
        named: dict[str, tuple[str, set[int]]] = {}
        for t in tickets:
            key = _group_key(getattr(t, column))
            if key:
                named.setdefault(key, (safe(getattr(t, column)).strip(), set()))[1].add(t.id)
        groups += [(kind, name, ids) for name, ids in named.values()]
    groups += [("code", text, ids) for (_, _, text), ids in by_code.items()]
    labels = {"pile": "充电桩", "station": "桩站", "code": "停止代号"}
    rows = [
        {
            "kind": kind,
            "kind_label": labels[kind],
            "name": name,
            "count": len(ids),
            "tickets": sorted(ids),
            "codes": sorted({c for t in ids for c in codes[t]}) if kind != "code" else [name],
        }
        for kind, name, ids in groups
        if len(ids) >= threshold
    ]
    order = list(labels)
    return sorted(rows, key=lambda r: (-r["count"], order.index(r["kind"]), r["name"]))


def first_engineer_replies(
    conn: Connection, engineer_addresses: list[str], end: datetime
) -> dict[int, datetime]:
    """When an engineer first answered each ticket, before `end`: the earliest of their mail on
    the thread (not automatic, not a forged engineer's) and the changes their mail made."""
    addresses = sorted({a.lower() for a in engineer_addresses})
    if not addresses:
        return {}
    first: dict[int, datetime] = {}

    def keep(ticket_id: int, at: datetime) -> None:
        if ticket_id not in first or as_utc(at) < first[ticket_id]:
            first[ticket_id] = as_utc(at)

    for ticket_id, at in conn.execute(
        select(TicketEvent.ticket_id, func.min(TicketEvent.at))
        .where(
            TicketEvent.kind.in_(ENGINEER_EVENTS),
            func.lower(TicketEvent.by).in_(addresses),
            TicketEvent.at < end,
        )
        .group_by(TicketEvent.ticket_id)
    ):
        keep(ticket_id, at)
    # The engineer's mail at its own time, as the ticket's creation is its first mail's: an
    # imported history keeps its real response times.
    written = func.coalesce(Message.sent_at, Message.received_at)
    for ticket_id, at, flags in conn.execute(
        select(Message.ticket_id, written, Message.flags).where(
            Message.ticket_id.is_not(None),
            Message.direction == "in",
            Message.auto_submitted.is_(False),
            func.lower(Message.from_address).in_(addresses),
            written < end,
        )
    ):
        if "forged_engineer" not in (flags or []):
            keep(ticket_id, at)
    return first


def _quantile(values: list[timedelta], q: float) -> timedelta:
    """Linear interpolation between the closest ranks (numpy's default, Excel's PERCENTILE.INC):
    for sorted x of n values, the value at position q·(n−1)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def response_times(
    conn: Connection,
    start: datetime,
    end: datetime,
    engineer_addresses: list[str],
    sla: timedelta,
    limit: int = WAITING_LIMIT,
) -> dict:
    """Time from a ticket's creation to an engineer's first reply, for the tickets first
    answered in [start, end): median and 90th percentile. And the open tickets no engineer has
    answered yet, longest waiting first, those past `sla` marked."""
    first = first_engineer_replies(conn, engineer_addresses, end)
    answered = [t for t, at in first.items() if start <= at < end]
    created = {}
    if answered:
        created = dict(
            conn.execute(select(Ticket.id, Ticket.created_at).where(Ticket.id.in_(answered))).all()
        )
    waits = [max(timedelta(0), first[t] - as_utc(created[t])) for t in answered if t in created]
    median = _quantile(waits, 0.5) if waits else None
    p90 = _quantile(waits, 0.9) if waits else None

    candidates = conn.execute(
        select(
            Ticket.id,
            Ticket.operator,
            Ticket.operator_address,
            Ticket.station,
            Ticket.status,
            Ticket.created_at,
        )
        .where(Ticket.status.in_(ENGINEER_TURN), Ticket.created_at < end, HUMAN)
        .order_by(Ticket.created_at, Ticket.id)
    ).all()
    unanswered = [t for t in candidates if t.id not in first]
    waiting = []
    for t in unanswered[:limit]:
        wait = end - as_utc(t.created_at)
        waiting.append(
            {
                "id": t.id,
                "operator": safe(t.operator or t.operator_address),
                "station": safe(t.station),
                "status_label": status_label(t.status),
                "wait": wait,
                "wait_label": age_zh(wait),
                "over_sla": wait > sla,
            }
        )
    return {
        "answered": len(waits),
        "median": median,
        "p90": p90,
        "median_label": age_zh(median) if median is not None else "",
        "p90_label": age_zh(p90) if p90 is not None else "",
        "sla": sla,
        "waiting": waiting,
        "waiting_total": len(unanswered),
        "over_sla": sum(1 for t in unanswered if end - as_utc(t.created_at) > sla),
    }


def daily(conn: Connection, end: datetime, days: int = DAYS) -> list[dict]:
    """Tickets opened and resolved on each of the last `days` days (China time), up to `end`."""
    last = as_utc(end).astimezone(DISPLAY_TZ).date()
    dates = [last - timedelta(days=n) for n in range(days - 1, -1, -1)]
    start = datetime.combine(dates[0], time(), DISPLAY_TZ)
    opened: dict = defaultdict(int)
    for (at,) in conn.execute(
        select(Ticket.created_at).where(Ticket.created_at >= start, Ticket.created_at < end, HUMAN)
    ):
        opened[as_utc(at).astimezone(DISPLAY_TZ).date()] += 1
    resolved: dict = defaultdict(set)
    for ticket_id, at in resolutions(conn, start, end):
        resolved[at.astimezone(DISPLAY_TZ).date()].add(ticket_id)
    return [{"day": d, "opened": opened[d], "resolved": len(resolved[d])} for d in dates]
