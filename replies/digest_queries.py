"""The digest's base data from the database: the period's counts, the open tickets, and the
stop-code and operator charts. Every string that could hold a phone number is masked."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

from sqlalchemy import exists, func, or_, select
from sqlalchemy.engine import Connection

from ingest.reading.clean_text import clean_text
from ingest.reading.labels import STATUSES, age_zh, status_label
from ingest.reading.phones import mask_phones_in_text
from ingest.store.models import Message, Outbox, StopCodeHit, Ticket, TicketEvent, as_utc

OPEN_STATUSES = tuple(s for s in STATUSES if s != "resolved")
# The team works on China Standard Time (UTC+8, no daylight saving); the database keeps UTC.
DISPLAY_TZ = timezone(timedelta(hours=8), "北京时间")
OPEN_LIMIT = 200  # rows listed in the mail; the rest are counted, so a backlog cannot bloat it
CHART_LIMIT = 15  # bars per chart; smaller ones are summed into 其他

# A ticket that only automatic mail ever wrote to (an unthreaded bounce or out-of-office) is
# kept, but it is nobody's work: the digest leaves it out.
HUMAN = exists().where(
    Message.ticket_id == Ticket.id, Message.direction == "in", Message.auto_submitted.is_(False)
)


# Mail that reaches us this much after its own time still counts as new when it arrives; older
# mail (an import of last month's, a mailbox read again) keeps its own date and is not new.
LATE = timedelta(days=1)


def _arrived():
    """When a ticket's first mail reached us."""
    return (
        select(func.min(Message.received_at))
        .where(Message.ticket_id == Ticket.id)
        .correlate(Ticket)
        .scalar_subquery()
    )


def new_in(start: datetime, end: datetime):
    """Tickets new in [start, end): sent in it, or sent a little earlier (LATE) and arrived in it,
    so neither a digest period's edge nor an import of old mail miscounts them."""
    arrived = _arrived()
    return (
        (Ticket.created_at < end)
        & (
            (Ticket.created_at >= start)
            | ((Ticket.created_at >= start - LATE) & (arrived >= start) & (arrived < end))
        )
        & HUMAN
    )


def safe(value) -> str:
    """A stored value as the digest shows it: phones masked, no control characters."""
    return mask_phones_in_text(clean_text(str(value))) if value is not None else ""


def code_label(code: int, meaning: str | None, vendor: str) -> str:
    """A stop code as the digest shows it; a brand without a table has no meaning (SPEC §5)."""
    return safe(f"{code} {meaning}" if meaning else f"{code}（{vendor}，无代号表）")


def chart(counter: Counter, limit: int = CHART_LIMIT) -> list[dict]:
    """Bars, largest first; past `limit` the smallest are summed into 其他."""
    rows = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(rows) > limit:
        rows = rows[: limit - 1] + [("其他", sum(n for _, n in rows[limit - 1 :]))]
    return [{"label": label, "count": n} for label, n in rows]


def resolutions(conn: Connection, start: datetime, end: datetime) -> list[tuple[int, datetime]]:
    """(ticket, when) of each resolution in [start, end): a status change to resolved, or a
    ticket whose first mail already ticked 已解决 (it never had a status change)."""
    events = conn.execute(
        select(TicketEvent.ticket_id, TicketEvent.at, TicketEvent.detail).where(
            TicketEvent.kind == "status_changed", TicketEvent.at >= start, TicketEvent.at < end
        )
    ).all()
    found = [(t, as_utc(at)) for t, at, detail in events if (detail or {}).get("new") == "resolved"]
    changed = select(TicketEvent.ticket_id).where(TicketEvent.kind == "status_changed")
    found += [
        (t, as_utc(at))
        for t, at in conn.execute(
            select(Ticket.id, Ticket.created_at).where(
                Ticket.status == "resolved",
                Ticket.created_at >= start,
                Ticket.created_at < end,
                Ticket.id.not_in(changed),
            )
        )
    ]
    return found


def counts(conn: Connection, start: datetime, end: datetime) -> dict:
    """New and resolved in the period; the open tickets per status at its end."""
    new = conn.execute(
        select(func.count()).select_from(Ticket.__table__).where(new_in(start, end))
    ).scalar_one()
    per_status = dict(
        conn.execute(
            select(Ticket.status, func.count())
            .where(Ticket.status.in_(OPEN_STATUSES), Ticket.created_at < end, HUMAN)
            .group_by(Ticket.status)
        ).all()
    )
    return {
        "new": new,
        **{s: per_status.get(s, 0) for s in OPEN_STATUSES},
        "resolved": len({t for t, _ in resolutions(conn, start, end)}),
    }


def is_open(end: datetime):
    return (Ticket.status != "resolved") & (Ticket.created_at < end) & HUMAN


def open_total(conn: Connection, end: datetime) -> int:
    return conn.execute(
        select(func.count()).select_from(Ticket.__table__).where(is_open(end))
    ).scalar_one()


def open_tickets(
    conn: Connection, end: datetime, limit: int = OPEN_LIMIT, first_engineer: str | None = None
) -> list[dict]:
    """Open tickets oldest first (those assigned to `first_engineer` before all others)."""
    order = [Ticket.created_at, Ticket.id]
    if first_engineer:
        order.insert(0, (func.coalesce(Ticket.engineer, "") != first_engineer))
    tickets = conn.execute(
        select(
            Ticket.id,
            Ticket.subject,
            Ticket.operator,
            Ticket.operator_address,
            Ticket.station,
            Ticket.order_no,
            Ticket.status,
            Ticket.engineer,
            Ticket.created_at,
        )
        .where(is_open(end))
        .order_by(*order)
        .limit(limit)
    ).all()
    codes = defaultdict(list)
    if tickets:
        for hit in conn.execute(
            select(StopCodeHit.ticket_id, StopCodeHit.code, StopCodeHit.meaning, StopCodeHit.vendor)
            .where(StopCodeHit.ticket_id.in_([t.id for t in tickets]))
            .order_by(StopCodeHit.id)
        ):
            codes[hit.ticket_id].append(code_label(hit.code, hit.meaning, hit.vendor))
    return [
        {
            "id": t.id,
            "subject": safe(t.subject),
            "operator": safe(t.operator or t.operator_address),
            "station": safe(t.station),
            "order_no": safe(t.order_no),
            "age": age_zh(end - as_utc(t.created_at)),
            "status": t.status,
            "status_label": status_label(t.status),
            "engineer": safe(t.engineer),
            "mine": bool(first_engineer) and t.engineer == first_engineer,
            "stop_codes": codes[t.id],
            "created_at": as_utc(t.created_at),
        }
        for t in tickets
    ]


def stop_code_chart(conn: Connection, start: datetime, end: datetime) -> list[dict]:
    """Stop codes of the tickets active in the period (created or updated in it): what the
    chargers did lately, rather than the whole backlog's history."""
    active = (
        or_(
            (Ticket.created_at >= start) & (Ticket.created_at < end),
            (Ticket.updated_at >= start) & (Ticket.updated_at < end),
        )
        & HUMAN
    )
    by_meaning: Counter = Counter()
    codes_of_meaning: dict[str, set[int]] = defaultdict(set)
    for meaning, vendor, code, n in conn.execute(
        select(
            StopCodeHit.meaning,
            StopCodeHit.vendor,
            StopCodeHit.code,
            func.count(func.distinct(StopCodeHit.ticket_id)),
        )
        .join(Ticket, Ticket.id == StopCodeHit.ticket_id)
        .where(active)
        .group_by(StopCodeHit.meaning, StopCodeHit.vendor, StopCodeHit.code)
    ):
        meaning = meaning or f"{vendor}，无代号表"
        by_meaning[meaning] += n
        codes_of_meaning[meaning].add(code)
    return chart(
        Counter(
            {
                safe(f"{m} ({'、'.join(str(c) for c in sorted(codes_of_meaning[m]))})"): n
                for m, n in by_meaning.items()
            }
        )
    )


def operator_chart(conn: Connection, start: datetime, end: datetime) -> list[dict]:
    """Tickets per operator: the open ones and those new in the period."""
    operator = func.coalesce(func.nullif(Ticket.operator, ""), Ticket.operator_address)
    new = new_in(start, end)
    per_operator: Counter = Counter()
    for name, n in conn.execute(
        select(operator, func.count()).where(or_(is_open(end), new)).group_by(operator)
    ):
        per_operator[safe(name) or "(未知)"] += n
    return chart(per_operator)


BOUNCE_REASON = 120  # characters of a bounce's reason shown in the digest


def bounced_replies(conn: Connection, start: datetime, end: datetime) -> list[dict]:
    """Replies whose delivery failure report came back in [start, end), oldest first: someone
    must reach that operator another way (SPEC §6a)."""
    return [
        {
            "ticket": r.ticket_id,
            "kind": r.kind,
            "to": safe(", ".join(r.to_addresses)),
            "reason": safe(r.last_error or "")[:BOUNCE_REASON],
            "at": as_utc(r.bounced_at),
        }
        for r in conn.execute(
            select(Outbox.ticket_id, Outbox.kind, Outbox.to_addresses, Outbox.last_error)
            .add_columns(Outbox.bounced_at)
            .where(Outbox.state == "bounced", Outbox.bounced_at >= start, Outbox.bounced_at < end)
            .order_by(Outbox.bounced_at, Outbox.id)
        )
    ]
