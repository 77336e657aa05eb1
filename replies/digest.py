"""The engineers' digest: gather the period's data, render it, and mail it via the outbox (one
digest for the recipients and, with `[digest] per_engineer`, one per engineer)."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from pathlib import Path

from ingest.config import Config, DigestTable, parse_duration
from ingest.store.db import Connection, Engine
from ingest.store.digest_runs import last_period_end, record_period
from ingest.store.lock import exclusive
from ingest.store.times import as_utc
from replies import digest_data as queries
from replies import digest_insight as insight
from replies.compose import build_message, make_address
from replies.digest_data import DISPLAY_TZ, OPEN_LIMIT
from replies.digest_view import render, subject_of
from replies.outgoing import new_message_id, queue_mail
from replies.send_stage import OUTBOX_WAIT, send_due

__all__ = ["collect", "render", "subject_of", "parse_since", "run_digest", "send_now"]

DEFAULT_PERIOD = timedelta(hours=24)
LOCK_WAIT = 30.0


def parse_since(text: str) -> timedelta:
    """`90min`, `24h`, `7d`, `2w` or `1mo` as a timedelta; ValueError saying what is expected."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"--since: {exc}") from None


def collect(
    conn: Connection,
    start: datetime,
    end: datetime,
    open_limit: int = OPEN_LIMIT,
    settings: DigestTable | None = None,
    engineer_addresses: list[str] = (),
    tz: tzinfo | None = None,
) -> dict:
    """The digest's plain data for [start, end); `end` is its "now" (ages, windows, the chart's
    last day), read on `conn`. Every string that could hold a phone is masked."""
    start, end = as_utc(start), as_utc(end)
    settings = settings or DigestTable()
    window = parse_duration(settings.repeat_window)
    return {
        "tz": tz,  # the zone people read the digest in ([desk] timezone); None: Asia/Shanghai
        "period": {"start": start, "end": end},
        "counts": queries.counts(conn, start, end),
        "open_total": queries.open_total(conn, end),
        "open_tickets": queries.open_tickets(conn, end, open_limit),
        "stop_code_chart": queries.stop_code_chart(conn, start, end),
        "operator_chart": queries.operator_chart(conn, start, end),
        "repeat_faults": {
            "window": window,
            "threshold": settings.repeat_threshold,
            "rows": insight.repeat_faults(conn, end, window, settings.repeat_threshold),
        },
        "response": insight.response_times(
            conn, start, end, list(engineer_addresses), parse_duration(settings.engineer_sla)
        ),
        "daily": insight.daily(conn, end, tz=tz or DISPLAY_TZ),
        "bounced": queries.bounced_replies(conn, start, end),
        "held": queries.held_replies(conn, end),
        "waiting_for_team": queries.waiting_for_team(conn, end, list(engineer_addresses)),
    }


def compose_digest(
    subject: str,
    text: str,
    html: str,
    from_address: str,
    to_addresses: list[str],
    message_id: str,
    date: datetime,
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
    """Who gets the common digest: `[digest] recipients`, else the engineers, unless each
    engineer gets their own (`per_engineer`), which holds everything the common one does."""
    if config.digest_recipients:
        return list(config.digest_recipients)
    if config.digest.per_engineer:
        return []
    return [e.address for e in config.engineers]


def run_digest(
    config: Config,
    engine: Engine,
    since: timedelta | None,
    dry_run: bool,
    out: str | None,
    now: datetime,
) -> dict:
    """Build the digest from where the last one ended (or `since` ago) up to `now`, write and/or
    queue it; with `[digest] per_engineer`, also each engineer's own."""
    recipients = recipients_of(config)
    engineers = [e for e in config.engineers if config.digest.per_engineer]
    if not dry_run and not recipients and not engineers:
        raise ValueError(
            "no digest recipients: set [digest] recipients or add [[engineer]] addresses "
            "to the config"
        )
    now = as_utc(now)
    template_dir = config.desk.template_dir or None
    support = config.outgoing.from_address
    # Two digests at once would both start where the last one ended and mail the same period
    # twice.
    with exclusive(engine, "digest", wait=LOCK_WAIT) as got:
        if not got:
            raise RuntimeError("another gongdan digest is running; try again in a minute")
        with engine.connect() as conn:
            last = last_period_end(conn)
            start = now - since if since is not None else (last or now - DEFAULT_PERIOD)
            addresses = [e.address for e in config.engineers]
            tz = config.desk.tz
            data = collect(conn, start, now, OPEN_LIMIT, config.digest, addresses, tz)
            subject, text, html = render(data, template_dir, support)
            if out:
                Path(out).write_text(html, "utf-8")
            mails = [(subject, text, html, recipients)] if recipients else []
            for engineer in engineers:
                own = {
                    **data,
                    "open_tickets": queries.open_tickets(conn, now, OPEN_LIMIT, engineer.name),
                }
                mails.append(
                    (*render(own, template_dir, support, engineer.name), [engineer.address])
                )
            outbox_ids, digest_id = [], None
            if not dry_run:
                for mail_subject, mail_text, mail_html, to in mails:
                    message_id = new_message_id(config)
                    raw = compose_digest(
                        mail_subject, mail_text, mail_html, support, to, message_id, now
                    )
                    outbox_ids.append(
                        queue_mail(
                            conn,
                            config,
                            kind="digest",
                            raw=raw,
                            message_id=message_id,
                            to=to,
                            subject=mail_subject,
                            now=now,
                        )
                    )
                digest_id = record_period(conn, start, now, now)
                conn.commit()
    return {
        "subject": subject,
        "period_start": start.isoformat(),
        "period_end": now.isoformat(),
        "counts": data["counts"],
        "open": data["open_total"],
        "recipients": recipients if not dry_run else [],
        "engineers": [e.address for e in engineers] if not dry_run else [],
        "outbox_id": outbox_ids[0] if recipients and outbox_ids else None,
        "outbox_ids": outbox_ids,
        "digest_id": digest_id,
        "out": out,
    }


def send_now(config: Config, engine: Engine, now: datetime):
    """Send the outbox now (the digest and any due reply), as `gongdan poll` would.

    None when another run is sending it: that run delivers the digest.
    """
    return send_due(config, engine, now, wait=OUTBOX_WAIT)
