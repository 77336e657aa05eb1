"""Bounces of our own replies (SPEC §6a): which reply a delivery failure report is about, and
marking that reply `bounced` with the report's reason."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session

from ingest.reading.ticket import TicketReading
from ingest.rules.bounces import daemon_of, from_daemon, names_recipient, trusted
from ingest.rules.threads import domain_of, tagged_ticket
from ingest.store.db import chunks
from ingest.store.models import Outbox

_OURS = (Outbox.id, Outbox.ticket_id, Outbox.message_id, Outbox.to_addresses, Outbox.state)


def bounced_reply(session: Session, reading: TicketReading, our_domain: str):
    """The outbox row of ours that `reading` reports undeliverable, or None.

    By the returned Message-ID, which must be one of our outbox rows; failing that, by the
    returned subject's `[工单#N]` tag, only for a MAILER-DAEMON/postmaster report of
    `our_domain` (the sending domain) or of the recipient's domain that names the recipient of
    one of that ticket's replies (the newest such reply)."""
    if not trusted(reading):
        return None
    bounce, conn = reading.bounce, session.connection()
    ids = list(dict.fromkeys(i for i in bounce.message_ids if i))
    found = [
        row
        for part in chunks(ids)
        if part
        for row in conn.execute(
            select(*_OURS).where(Outbox.message_id.in_(part)).order_by(Outbox.id.desc()).limit(1)
        )
    ]
    if found:
        return max(found, key=lambda row: row.id)
    tag = tagged_ticket(bounce.subject) or tagged_ticket(reading.mail.subject)
    if tag is None or not from_daemon(reading):
        return None
    rows = conn.execute(
        select(*_OURS)
        .where(Outbox.ticket_id == tag, Outbox.state.in_(("sent", "bounced")))
        .order_by(Outbox.id.desc())
    ).all()
    return next(
        (
            r
            for r in rows
            if names_recipient(reading, r.to_addresses)
            and daemon_of(reading, [our_domain, *map(domain_of, r.to_addresses)])
        ),
        None,
    )


def mark_bounced(session: Session, row, reason: str, now: datetime) -> None:
    """The reply did not reach its recipient. A reply being handed over this very moment is left
    to its sender (the report is about an earlier copy; it is kept on the thread all the same)."""
    session.connection().execute(
        update(Outbox.__table__)
        .where(Outbox.id == row.id, Outbox.state != "sending")
        .values(state="bounced", bounced_at=now, last_error=reason)
    )
