"""`gongdan stats`: stop codes and tickets counted over a period, by code, pile, station or
operator (SPEC §12), as plain rows for the monthly review."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime

from sqlalchemy import and_, case, distinct, exists, func, literal, select
from sqlalchemy.engine import Connection

from ingest.reading.display_words import FINISHED
from ingest.store import review_queries as review
from ingest.store.digest_queries import person_wrote
from ingest.store.tables import message as _MESSAGE
from ingest.store.tables import stop_code_hit as _STOP_CODE
from ingest.store.tables import ticket as _TICKET
from ingest.store.tables import ticket_event as _EVENT
from ingest.store.times import as_utc

GROUPINGS = ("code", "pile", "station", "operator", "engineer")
# The keys of each row, in order: JSON objects and the CSV header use them as they are.
CODE_KEYS = ("code", "vendor", "meaning", "hits", "tickets", "piles")
TICKET_KEYS = (
    "opened",
    "resolved",
    "open",
    "stop_code_hits",
    "top_code",
    "top_code_vendor",
    "top_code_meaning",
    "resolution_median_hours",
)


def row_keys(by: str) -> tuple[str, ...]:
    if by == "engineer":
        return review.ENGINEER_KEYS
    return CODE_KEYS if by == "code" else (by, *TICKET_KEYS)


# Tickets only automatic mail wrote to are left out, as the digest leaves them out; on its own
# alias of the message table, since the stop-code queries join messages too.
_HUMAN = person_wrote(_MESSAGE.alias("human_mail"))


def _key_column(by: str):
    """What a ticket is grouped by; a ticket without an operator name counts by its address."""
    return {
        "pile": _TICKET.c.pile_no,
        "station": _TICKET.c.station,
        "operator": func.coalesce(_TICKET.c.operator, _TICKET.c.operator_address),
    }[by]


def _hits(start: datetime, end: datetime):
    """Stop-code hits of the period: those read from mail sent in [start, end) (its own time)."""
    return (
        select()
        .select_from(_STOP_CODE)
        .join(_MESSAGE, _MESSAGE.c.id == _STOP_CODE.c.message_db_id)
        .join(_TICKET, _TICKET.c.id == _STOP_CODE.c.ticket_id)
        .where(_MESSAGE.c.sent_at >= start, _MESSAGE.c.sent_at < end, _HUMAN)
    )


def _by_code(conn: Connection, start: datetime, end: datetime) -> list[dict]:
    # One hit is stored per ticket and code, so hits and tickets differ only if that changes.
    query = _hits(start, end).add_columns(
        _STOP_CODE.c.vendor,
        _STOP_CODE.c.code,
        func.max(_STOP_CODE.c.meaning).label("meaning"),
        func.count().label("hits"),
        func.count(distinct(_STOP_CODE.c.ticket_id)).label("tickets"),
        func.count(distinct(_TICKET.c.pile_no)).label("piles"),
    )
    rows = conn.execute(query.group_by(_STOP_CODE.c.vendor, _STOP_CODE.c.code)).all()
    found = [
        {
            "code": r.code,
            "vendor": r.vendor,
            "meaning": r.meaning,
            "hits": r.hits,
            "tickets": r.tickets,
            "piles": r.piles,
        }
        for r in rows
    ]
    return sorted(found, key=lambda r: (-r["hits"], -r["tickets"], r["vendor"], r["code"]))


def _resolved_in(start: datetime, end: datetime):
    """A ticket resolved in [start, end): its status changed to resolved then, or its first mail
    already ticked 已解决 (so it never had a status change) and it was opened then."""
    changed = _EVENT.c.ticket_id == _TICKET.c.id
    changed &= _EVENT.c.kind == "status_changed"
    resolved_then = exists().where(
        changed,
        _EVENT.c.at >= start,
        _EVENT.c.at < end,
        _EVENT.c.detail["new"].as_string() == "resolved",
    )
    born_resolved = and_(
        _TICKET.c.status == "resolved",
        _TICKET.c.created_at >= start,
        _TICKET.c.created_at < end,
        ~exists().where(changed),
    )
    return resolved_then | born_resolved


def _count(condition):
    return func.sum(case((condition, literal(1)), else_=literal(0)))


def _by_ticket_key(conn: Connection, by: str, start: datetime, end: datetime) -> list[dict]:
    key = _key_column(by).label("key")
    counts = conn.execute(
        select(
            key,
            _count((_TICKET.c.created_at >= start) & (_TICKET.c.created_at < end)).label("opened"),
            _count(_resolved_in(start, end)).label("resolved"),
            _count(_TICKET.c.status.not_in(FINISHED)).label("open"),
        )
        .where(_TICKET.c.created_at < end, _HUMAN)
        .group_by(key)
    ).all()
    medians = review.resolution_medians(conn, _key_column(by), start, end)
    rows: dict = {
        r.key: {by: r.key, "opened": r.opened, "resolved": r.resolved, "open": r.open}
        for r in counts
    }
    hits: dict = defaultdict(Counter)
    meanings = {}
    for r in conn.execute(
        _hits(start, end)
        .add_columns(
            key,
            _STOP_CODE.c.vendor,
            _STOP_CODE.c.code,
            func.max(_STOP_CODE.c.meaning).label("meaning"),
            func.count().label("n"),
        )
        .group_by(key, _STOP_CODE.c.vendor, _STOP_CODE.c.code)
    ):
        hits[r.key][(r.vendor, r.code)] = r.n
        meanings[(r.vendor, r.code)] = r.meaning
    found = []
    for k in rows.keys() | hits.keys():
        row = rows.get(k) or {by: k, "opened": 0, "resolved": 0, "open": 0}
        if not (row["opened"] or row["resolved"] or row["open"] or hits[k]):
            continue
        # The most frequent code; on a tie the lowest code, then vendor, so the row is stable.
        top = min(hits[k].items(), key=lambda kv: (-kv[1], kv[0][1], kv[0][0]), default=None)
        vendor, code = top[0] if top else (None, None)
        found.append(
            {
                **row,
                "stop_code_hits": sum(hits[k].values()),
                "top_code": code,
                "top_code_vendor": vendor,
                "top_code_meaning": meanings.get((vendor, code)),
                "resolution_median_hours": medians.get(k),
            }
        )
    # Tickets without the key (no pile number written) come last: they are not one pile.
    return sorted(
        found,
        key=lambda r: (
            r[by] is None,
            -r["opened"],
            -r["stop_code_hits"],
            -r["open"],
            -r["resolved"],
            r[by] or "",
        ),
    )


def stats(
    conn: Connection, by: str, since: datetime, until: datetime, engineer_addresses=()
) -> list[dict]:
    """Rows for [since, until) grouped `by` one of GROUPINGS, largest count first.

    `code`: each stop code read from mail received in the period, its hits, tickets and piles.
    `pile`, `station`, `operator`: tickets opened and resolved in the period, those open now
    (opened before `until`, not resolved), the period's stop-code hits and the most frequent
    code, and the median time to resolve those resolved in the period. Tickets without the
    key (no pile number written) are counted under None. `engineer`: review.by_engineer (the
    engineers' addresses tell their answers).
    """
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}; one of: {', '.join(GROUPINGS)}")
    since, until = as_utc(since), as_utc(until)
    if by == "code":
        return _by_code(conn, since, until)
    if by == "engineer":
        return review.by_engineer(conn, since, until, list(engineer_addresses))
    return _by_ticket_key(conn, by, since, until)
