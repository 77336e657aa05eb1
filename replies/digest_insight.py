"""What the digest adds to the counts (SPEC §12): repeat faults, engineers' response times and
the tickets waiting for one, and tickets opened and resolved per day: computed here from what
ingest.store.insight_queries reads."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta, tzinfo

from ingest.reading.display_words import age_zh, status_label
from ingest.store import insight_queries as read
from ingest.store.db import Connection
from ingest.store.digest_queries import resolutions, stop_code_hits
from ingest.store.times import as_utc
from replies.digest_data import DISPLAY_TZ, code_label, safe

# An engineer's mail that changed the ticket leaves one of these events (ingest.store.tickets).
ENGINEER_EVENTS = ("status_changed", "assigned", "note", "answered")
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
    tickets = read.opened_tickets(conn, end - window, end)
    return repeats(tickets, stop_code_hits(conn, [t.id for t in tickets]), threshold)


def repeats(tickets, hits, threshold: int) -> list[dict]:
    """The repeat faults of these tickets (id, pile_no, station) and their stop codes (ticket_id,
    vendor, code, meaning): each pile, station and stop code of at least `threshold` tickets."""
    codes: dict[int, list[str]] = defaultdict(list)
    by_code: dict[tuple, set[int]] = defaultdict(set)
    for hit in hits:
        text = code_label(hit.code, hit.meaning, hit.vendor)
        if text not in codes[hit.ticket_id]:
            codes[hit.ticket_id].append(text)
        by_code[(hit.vendor, hit.code, text)].add(hit.ticket_id)
    groups: list[tuple[str, str, set[int]]] = []
    for kind, column in (("pile", "pile_no"), ("station", "station")):
        named: dict[str, tuple[str, set[int]]] = {}
        for t in tickets:
            key = _group_key(getattr(t, column))
            if not key:
                continue
            if key not in named:  # shown as its first ticket writes it
                named[key] = (safe(getattr(t, column)).strip(), set())
            named[key][1].add(t.id)
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
    answered yet, longest waiting first, those past `sla` marked. An engineer's answer is the
    earliest of their mail on the thread (not automatic, not a forged engineer's) and the changes
    their mail made."""
    addresses = sorted({a.lower() for a in engineer_addresses})
    first = read.first_answered_in(conn, ENGINEER_EVENTS, addresses, start, end)
    return responses(
        first,
        read.created_at(conn, list(first)),
        read.unanswered(conn, ENGINEER_TURN, ENGINEER_EVENTS, addresses, end),
        start,
        end,
        sla,
        limit,
    )


def responses(
    first: dict[int, datetime],
    created: dict[int, datetime],
    candidates: list,
    start: datetime,
    end: datetime,
    sla: timedelta,
    limit: int = WAITING_LIMIT,
) -> dict:
    """Response times from each ticket's first answer (`first`, at least those first answered in
    [start, end)) and creation (`created`), and the `candidates` (tickets in the engineer's
    turn, oldest first) that no engineer answered."""
    answered = [t for t, at in first.items() if start <= at < end]
    waits = [max(timedelta(0), first[t] - as_utc(created[t])) for t in answered if t in created]
    median = _quantile(waits, 0.5) if waits else None
    p90 = _quantile(waits, 0.9) if waits else None

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


def daily(conn: Connection, end: datetime, days: int = DAYS, tz: tzinfo = DISPLAY_TZ) -> list[dict]:
    """Tickets opened and resolved on each of the last `days` days in `tz` (the desk's zone), up
    to `end`."""
    dates = last_days(end, days, tz)
    start = datetime.combine(dates[0], time(), tz)
    return per_day(dates, read.opened_times(conn, start, end), resolutions(conn, start, end), tz)


def last_days(end: datetime, days: int = DAYS, tz: tzinfo = DISPLAY_TZ) -> list[date]:
    """The last `days` dates in `tz`, up to the one `end` falls on, oldest first."""
    last = as_utc(end).astimezone(tz).date()
    return [last - timedelta(days=n) for n in range(days - 1, -1, -1)]


def per_day(
    dates: list[date],
    opened_at: list[datetime],
    resolved_at: list[tuple[int, datetime]],
    tz: tzinfo = DISPLAY_TZ,
) -> list[dict]:
    """Tickets opened (their creation times) and resolved ((ticket, when), a ticket resolved
    twice in a day counted once) on each of `dates`, days in `tz`."""
    opened: dict = defaultdict(int)
    for at in opened_at:
        opened[as_utc(at).astimezone(tz).date()] += 1
    resolved: dict = defaultdict(set)
    for ticket_id, at in resolved_at:
        resolved[as_utc(at).astimezone(tz).date()].add(ticket_id)
    return [{"day": d, "opened": opened[d], "resolved": len(resolved[d])} for d in dates]
