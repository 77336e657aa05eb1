"""The engineers' digest: a period's counts, the open tickets and two bar charts, mailed via the outbox."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import exists, func, insert, or_, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from ingest.config import Config
from ingest.reading.clean_text import clean_text
from ingest.reading.labels import age_zh, status_label
from ingest.reading.phones import mask_phones_in_text
from ingest.store import db
from ingest.store.lock import exclusive
from ingest.store.models import Digest, Message, Outbox, StopCodeHit, Ticket, TicketEvent, utcnow
from ingest.store.threads import domain_of
from replies.compose import build_message, make_address, make_message_id
from replies.render import PACKAGE_TEMPLATES
from replies.send_stage import OUTBOX_WAIT, send_due

DEFAULT_PERIOD = timedelta(hours=24)
OPEN_STATUSES = ("waiting_info", "in_progress", "on_hold")
# The team works on China Standard Time (UTC+8, no daylight saving); the database keeps UTC.
DISPLAY_TZ = timezone(timedelta(hours=8), "北京时间")
OPEN_LIMIT = 200  # rows listed in the mail; the rest are counted, so a backlog cannot bloat it
CHART_LIMIT = 15  # bars per chart; smaller ones are summed into 其他
TEXT_BAR = 30  # characters of the longest plain-text bar
LOCK_WAIT = 30.0

COUNT_LABELS = {
    "new": "本期新建",
    "waiting_info": "等待运营商补充信息",
    "in_progress": "处理中",
    "on_hold": "暂搁置",
    "resolved": "本期解决",
}
_SINCE = re.compile(r"\s*(\d+)\s*(m|min|h|d|w)\s*", re.I)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str) -> timedelta:
    """`90m`, `24h`, `7d` or `2w` as a timedelta; ValueError saying what is expected."""
    m = _SINCE.fullmatch(text or "")
    if not m or int(m[1]) == 0:
        raise ValueError(
            f"--since: expected a positive number with m, h, d or w (90m, 24h, 7d), not {text!r}"
        )
    return timedelta(**{_UNITS[m[2].lower()]: int(m[1])})


def _utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken as UTC (what SQLite gives back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _safe(value) -> str:
    """A stored value as the digest shows it: phones masked, no control characters."""
    return mask_phones_in_text(clean_text(str(value))) if value is not None else ""


def _resolved_in(session: Session, start: datetime, end: datetime) -> int:
    conn = session.connection()
    events = conn.execute(
        select(TicketEvent.ticket_id, TicketEvent.detail).where(
            TicketEvent.kind == "status_changed", TicketEvent.at >= start, TicketEvent.at < end
        )
    ).all()
    resolved = {
        ticket_id for ticket_id, detail in events if (detail or {}).get("new") == "resolved"
    }
    # A ticket whose first mail already ticked 已解决 never had a status change.
    changed = select(TicketEvent.ticket_id).where(TicketEvent.kind == "status_changed")
    resolved |= set(
        conn.execute(
            select(Ticket.id).where(
                Ticket.status == "resolved",
                Ticket.created_at >= start,
                Ticket.created_at < end,
                Ticket.id.not_in(changed),
            )
        ).scalars()
    )
    return len(resolved)


def _chart(counter: Counter, limit: int = CHART_LIMIT) -> list[dict]:
    rows = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
    if len(rows) > limit:
        rows = rows[: limit - 1] + [("其他", sum(n for _, n in rows[limit - 1 :]))]
    return [{"label": label, "count": n} for label, n in rows]


def collect(session: Session, start: datetime, end: datetime, open_limit: int = OPEN_LIMIT) -> dict:
    """The digest's plain data for [start, end); every string that could hold a phone is masked."""
    start, end = _utc(start), _utc(end)
    conn = session.connection()
    # A ticket that only automatic mail ever wrote to (an unthreaded bounce or out-of-office)
    # is kept, but it is nobody's work: the digest leaves it out.
    human = exists().where(
        Message.ticket_id == Ticket.id, Message.direction == "in", Message.auto_submitted.is_(False)
    )
    new = conn.execute(
        select(func.count())
        .select_from(Ticket.__table__)
        .where(Ticket.created_at >= start, Ticket.created_at < end, human)
    ).scalar_one()
    per_status = dict(
        conn.execute(
            select(Ticket.status, func.count())
            .where(Ticket.status.in_(OPEN_STATUSES), Ticket.created_at < end, human)
            .group_by(Ticket.status)
        ).all()
    )
    counts = {
        "new": new,
        **{s: per_status.get(s, 0) for s in OPEN_STATUSES},
        "resolved": _resolved_in(session, start, end),
    }

    is_open = (Ticket.status != "resolved") & (Ticket.created_at < end) & human
    open_total = conn.execute(
        select(func.count()).select_from(Ticket.__table__).where(is_open)
    ).scalar_one()
    tickets = conn.execute(
        select(
            Ticket.id,
            Ticket.operator,
            Ticket.operator_address,
            Ticket.station,
            Ticket.order_no,
            Ticket.status,
            Ticket.engineer,
            Ticket.created_at,
        )
        .where(is_open)
        .order_by(Ticket.created_at, Ticket.id)
        .limit(open_limit)
    ).all()
    codes = defaultdict(list)
    if tickets:
        for hit in conn.execute(
            select(StopCodeHit.ticket_id, StopCodeHit.code, StopCodeHit.meaning)
            .where(StopCodeHit.ticket_id.in_([t.id for t in tickets]))
            .order_by(StopCodeHit.id)
        ):
            codes[hit.ticket_id].append(_safe(f"{hit.code} {hit.meaning or '未知代号'}"))
    open_rows = [
        {
            "id": t.id,
            "operator": _safe(t.operator or t.operator_address),
            "station": _safe(t.station),
            "order_no": _safe(t.order_no),
            "age": age_zh(end - _utc(t.created_at)),
            "status": t.status,
            "status_label": status_label(t.status),
            "engineer": _safe(t.engineer),
            "stop_codes": codes[t.id],
            "created_at": _utc(t.created_at),
        }
        for t in tickets
    ]

    # Stop codes of the tickets active in the period (created or updated in it): what the
    # chargers did lately, rather than the whole backlog's history.
    active = (
        or_(
            (Ticket.created_at >= start) & (Ticket.created_at < end),
            (Ticket.updated_at >= start) & (Ticket.updated_at < end),
        )
        & human
    )
    by_meaning: Counter = Counter()
    codes_of_meaning: dict[str, set[int]] = defaultdict(set)
    for meaning, code, n in conn.execute(
        select(
            StopCodeHit.meaning, StopCodeHit.code, func.count(func.distinct(StopCodeHit.ticket_id))
        )
        .join(Ticket, Ticket.id == StopCodeHit.ticket_id)
        .where(active)
        .group_by(StopCodeHit.meaning, StopCodeHit.code)
    ):
        meaning = meaning or "未知代号"
        by_meaning[meaning] += n
        codes_of_meaning[meaning].add(code)
    stop_chart = Counter(
        {
            _safe(f"{m} ({'、'.join(str(c) for c in sorted(codes_of_meaning[m]))})"): n
            for m, n in by_meaning.items()
        }
    )

    # Tickets per operator: the open ones and those new in the period.
    operator = func.coalesce(func.nullif(Ticket.operator, ""), Ticket.operator_address)
    per_operator: Counter = Counter()
    for name, n in conn.execute(
        select(operator, func.count())
        .where(or_(is_open, (Ticket.created_at >= start) & (Ticket.created_at < end) & human))
        .group_by(operator)
    ):
        per_operator[_safe(name) or "(未知)"] += n

    return {
        "period": {"start": start, "end": end},
        "counts": counts,
        "open_total": open_total,
        "open_tickets": open_rows,
        "stop_code_chart": _chart(stop_chart),
        "operator_chart": _chart(per_operator),
    }


# ---- rendering (pure) -------------------------------------------------------------------------


def _width(text: str) -> int:
    """Columns `text` takes in a monospaced mail client: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text, width: int) -> str:
    text = str(text)
    return text + " " * max(0, width - _width(text))


@lru_cache(maxsize=8)
def environment(template_dir: str | None = None) -> Environment:
    """Templates from `template_dir` first, then the package's; HTML ones are autoescaped."""
    search = [template_dir, PACKAGE_TEMPLATES] if template_dir else [PACKAGE_TEMPLATES]
    env = Environment(
        loader=FileSystemLoader(search),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=lambda name: bool(name) and name.endswith((".html.j2", ".html")),
    )
    env.filters["pad"] = _pad
    return env


def _bars(chart: list[dict]) -> list[dict]:
    top = max((row["count"] for row in chart), default=0)
    label_width = max((_width(row["label"]) for row in chart), default=0)
    rows = []
    for row in chart:
        share = row["count"] / top if top else 0
        rows.append(
            {
                **row,
                "percent": max(2, round(share * 100)) if row["count"] else 0,
                "text_bar": "█" * max(1, round(share * TEXT_BAR)) if row["count"] else "",
                "text_label": _pad(row["label"], label_width),
            }
        )
    return rows


def _local(value: datetime) -> str:
    return _utc(value).astimezone(DISPLAY_TZ).strftime("%Y-%m-%d %H:%M")


def subject_of(data: dict) -> str:
    return f"售后工单日报 {_local(data['period']['start'])} 至 {_local(data['period']['end'])}"


def render(data: dict, template_dir: str | None = None) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the digest for `collect`'s data."""
    env = environment(template_dir)
    count_width = max(_width(label) for label in COUNT_LABELS.values())
    view = {
        "subject": subject_of(data),
        "start": _local(data["period"]["start"]),
        "end": _local(data["period"]["end"]),
        "tz": DISPLAY_TZ.tzname(None),
        "counts": [
            {
                "key": k,
                "label": label,
                "text_label": _pad(label, count_width),
                "count": data["counts"].get(k, 0),
            }
            for k, label in COUNT_LABELS.items()
        ],
        "open_tickets": data["open_tickets"],
        "open_total": data["open_total"],
        "open_hidden": max(0, data["open_total"] - len(data["open_tickets"])),
        "stop_code_chart": _bars(data["stop_code_chart"]),
        "operator_chart": _bars(data["operator_chart"]),
    }
    text = env.get_template("digest.txt.j2").render(**view)
    html = env.get_template("digest.html.j2").render(**view)
    return view["subject"], text, html


def compose_digest(
    subject: str,
    text: str,
    html: str,
    from_address: str,
    to_addresses: list[str],
    message_id: str,
    date: datetime | None = None,
) -> bytes:
    """multipart/alternative (plain text, then HTML), UTF-8, `Auto-Submitted: auto-generated`."""
    recipients = [make_address(a) for a in to_addresses or []]
    if not recipients:
        raise ValueError("the digest needs at least one recipient")
    msg = build_message(
        body=text,
        sender=make_address(from_address, "售后工单"),
        recipients=recipients,
        subject=subject,
        message_id=message_id,
        auto_submitted="auto-generated",
        date=date,
    )
    msg.add_alternative(
        html.encode("utf-8", "replace").decode("utf-8"),
        subtype="html",
        charset="utf-8",
        cte="base64",
    )
    return msg.as_bytes()


# ---- running ----------------------------------------------------------------------------------


def recipients_of(config: Config) -> list[str]:
    return list(config.digest_recipients) or [e.address for e in config.engineers]


def last_period_end(session: Session) -> datetime | None:
    end = session.connection().execute(select(func.max(Digest.period_end))).scalar_one_or_none()
    return _utc(end) if end else None


def run_digest(
    config: Config,
    engine: Engine,
    since: timedelta | None,
    dry_run: bool,
    out: str | None,
    now: datetime | None = None,
) -> dict:
    """Build the digest from where the last one ended (or `since` ago), write and/or queue it."""
    recipients = recipients_of(config)
    if not dry_run and not recipients:
        raise ValueError(
            "no digest recipients: set [digest] recipients or add [[engineer]] addresses "
            "to the config"
        )
    now = _utc(now or utcnow())
    # Two digests at once would both start where the last one ended and mail the same period twice.
    with exclusive(engine, "digest", wait=LOCK_WAIT) as got:
        if not got:
            raise RuntimeError("another gongdan digest is running; try again in a minute")
        with db.session(engine) as session:
            start = (
                now - since
                if since is not None
                else (last_period_end(session) or now - DEFAULT_PERIOD)
            )
            data = collect(session, start, now)
            subject, text, html = render(data, config.desk.template_dir or None)
            if out:
                Path(out).write_text(html, "utf-8")
            outbox_id = digest_id = None
            if not dry_run:
                from_address = config.outgoing.from_address
                message_id = make_message_id(domain_of(from_address) or "localhost")
                raw = compose_digest(subject, text, html, from_address, recipients, message_id)
                outbox_id, digest_id = _queue(session, raw, message_id, recipients, start, now)
                session.commit()
    return {
        "subject": subject,
        "period_start": start.isoformat(),
        "period_end": now.isoformat(),
        "counts": data["counts"],
        "open": data["open_total"],
        "recipients": recipients if not dry_run else [],
        "outbox_id": outbox_id,
        "digest_id": digest_id,
        "out": out,
    }


def _queue(
    session: Session,
    raw: bytes,
    message_id: str,
    recipients: list[str],
    start: datetime,
    end: datetime,
) -> tuple[int, int]:
    """One outbox row and the Digest record, in the caller's transaction."""
    conn = session.connection()
    queued_at = utcnow()
    outbox_id = conn.execute(
        insert(Outbox.__table__).returning(Outbox.__table__.c.id),
        {
            "ticket_id": None,
            "caused_by": None,
            "kind": "digest",
            "message_id": message_id,
            "recipient": "",
            "to_addresses": recipients,
            "raw": raw,
            "state": "queued",
            "attempts": 0,
            "next_attempt_at": queued_at,
            "created_at": queued_at,
        },
    ).scalar_one()
    digest_id = conn.execute(
        insert(Digest.__table__).returning(Digest.__table__.c.id),
        {"period_start": start, "period_end": end, "created_at": queued_at},
    ).scalar_one()
    return outbox_id, digest_id


def send_now(config: Config, engine: Engine):
    """Send the outbox now (the digest and any due reply), as `gongdan poll` would.

    None when another run is sending it: that run delivers the digest.
    """
    return send_due(config, engine, wait=OUTBOX_WAIT)
