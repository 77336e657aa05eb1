"""The digest's base data: the period's counts, the open tickets, and the stop-code and operator
charts, read by ingest.store.digest_queries and shaped here for the mail. Every string that
could hold a phone number is masked."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta

from ingest.config import DEFAULT_ZONE, zone
from ingest.reading.clean_text import clean_text
from ingest.reading.display_words import FINISHED, STATUSES, age_zh, status_label
from ingest.reading.phones import mask_phones_in_text
from ingest.reading.quoting import new_text
from ingest.rules.bounces import clean_reason
from ingest.rules.followups import first_lines
from ingest.store import digest_queries as read
from ingest.store import waiting_queries as read_waiting
from ingest.store.db import Connection
from ingest.store.times import as_utc

OPEN_STATUSES = tuple(s for s in STATUSES if s not in FINISHED)
# The zone of a digest built without `[desk] timezone` (the database keeps UTC).
DISPLAY_TZ = zone(DEFAULT_ZONE)
OPEN_LIMIT = 200  # rows listed in the mail; the rest are counted, so a backlog cannot bloat it
CHART_LIMIT = 15  # bars per chart; smaller ones are summed into 其他


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


def counts(conn: Connection, start: datetime, end: datetime) -> dict:
    """New and resolved in the period; the open tickets per status at its end."""
    per_status = read.per_status(conn, OPEN_STATUSES, end)
    return {
        "new": read.new_count(conn, start, end),
        **{s: per_status.get(s, 0) for s in OPEN_STATUSES},
        "resolved": len({t for t, _ in read.resolutions(conn, start, end)}),
    }


def open_total(conn: Connection, end: datetime) -> int:
    return read.open_total(conn, end)


PROBLEM_CHARS = 30  # the first words of a ticket's problem, in the digest's open-ticket rows


def problem_words(description: str | None, subject: str | None) -> str:
    """What a ticket is about at a glance: its description, else its subject, on one line and
    cut at PROBLEM_CHARS (with …), phones masked."""
    text = " ".join(safe(description or subject or "").split())
    return text if len(text) <= PROBLEM_CHARS else text[: PROBLEM_CHARS - 1] + "…"


def open_ticket(ticket, codes: list[str], end: datetime, first_engineer: str | None) -> dict:
    """An open ticket's row in the digest, its age as of `end`."""
    return {
        "id": ticket.id,
        "subject": safe(ticket.subject),
        "problem": problem_words(ticket.description, ticket.subject),
        "operator": safe(ticket.operator or ticket.operator_address),
        "station": safe(ticket.station),
        "order_no": safe(ticket.order_no),
        "age": age_zh(end - as_utc(ticket.created_at)),
        "status": ticket.status,
        "status_label": status_label(ticket.status),
        "engineer": safe(ticket.engineer),
        "mine": bool(first_engineer) and ticket.engineer == first_engineer,
        "stop_codes": codes,
        "created_at": as_utc(ticket.created_at),
    }


def open_tickets(
    conn: Connection, end: datetime, limit: int = OPEN_LIMIT, first_engineer: str | None = None
) -> list[dict]:
    """Open tickets oldest first (those assigned to `first_engineer` before all others)."""
    tickets = read.open_ticket_rows(conn, end, limit, first_engineer)
    codes = defaultdict(list)
    for hit in read.stop_code_hits(conn, [t.id for t in tickets]):
        codes[hit.ticket_id].append(code_label(hit.code, hit.meaning, hit.vendor))
    return [open_ticket(t, codes[t.id], end, first_engineer) for t in tickets]


def stop_code_bars(found) -> list[dict]:
    """The stop-code chart from (meaning, vendor, code, tickets): one bar per meaning, with its
    codes (a brand without a table is one meaning)."""
    by_meaning: Counter = Counter()
    codes_of_meaning: dict[str, set[int]] = defaultdict(set)
    for meaning, vendor, code, n in found:
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


def stop_code_chart(conn: Connection, start: datetime, end: datetime) -> list[dict]:
    """Stop codes of the tickets active in the period (created or updated in it): what the
    chargers did lately, rather than the whole backlog's history."""
    return stop_code_bars(read.active_stop_codes(conn, start, end))


def operator_bars(found) -> list[dict]:
    """The operator chart from (operator, tickets); two names that read the same once masked
    are one bar."""
    per_operator: Counter = Counter()
    for name, n in found:
        per_operator[safe(name) or "(未知)"] += n
    return chart(per_operator)


def operator_chart(conn: Connection, start: datetime, end: datetime) -> list[dict]:
    """Tickets per operator: the open ones and those new in the period."""
    return operator_bars(read.per_operator(conn, start, end))


def bounced_replies(conn: Connection, start: datetime, end: datetime) -> list[dict]:
    """Replies whose delivery failure report came back in [start, end), oldest first: someone
    must reach that operator another way (SPEC §6a)."""
    return [
        {
            "ticket": r.ticket_id,
            "kind": r.kind,
            "to": safe(", ".join(r.to_addresses)),
            "reason": clean_reason(r.last_error or ""),
            "at": as_utc(r.bounced_at),
        }
        for r in read.bounced_rows(conn, start, end)
    ]


HELD_SHOWN = 50  # held replies listed by name in a digest; the rest are counted


def held_replies(conn: Connection, end: datetime) -> dict:
    """Replies the daily limit held back and nobody has released yet, whenever they were made:
    nothing withheld is silently forgotten (SPEC §6b)."""
    rows, total = read.held_rows(conn, end, HELD_SHOWN)
    return {
        "total": total,
        "rows": [
            {
                "ticket": r.ticket_id,
                "kind": r.kind,
                "to": safe(", ".join(r.to_addresses)),
                "at": as_utc(r.created_at),
            }
            for r in rows
        ],
    }


WAITING_SHOWN = 50  # tickets waiting for the team listed by name; the rest are counted
_OUTSIDE = {"outside_thread", "foreign_ticket_tag", "forged_engineer"}


def waiting_for_team(conn: Connection, end: datetime, engineer_addresses: list[str]) -> dict:
    """运营商来信待回复 (SPEC §13): each open ticket waiting for the team, the first lines of its
    latest operator text (phones masked) and how long it has waited as of `end`: since the first
    operator follow-up (the opening mail aside) after the last engineer's."""
    engineers = {a.lower() for a in engineer_addresses}
    tickets, messages, total = read_waiting.waiting_for_team(conn, end, WAITING_SHOWN)
    rows = []
    for t in tickets:
        since, latest = None, ""
        for n, m in enumerate(messages[t.id]):
            if m.from_address.lower() in engineers:
                since = None
            elif not m.auto_submitted and not _OUTSIDE & set(m.flags):
                since = since or (as_utc(m.received_at) if n else None)
                latest = new_text(m.text) or latest
        waited = end - since if since else timedelta(0)
        rows.append(
            {
                "id": t.id,
                "subject": safe(t.subject),
                "text": safe(first_lines(latest)),
                "waited": waited,
            }
        )
    return {"total": total, "rows": rows}
