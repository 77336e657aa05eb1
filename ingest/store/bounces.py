"""Bounces of our own replies (SPEC §6a): which reply a delivery failure report is about, and
marking that reply `bounced` with the report's reason."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select, update
from sqlmodel import Session

from ingest.reading.autoreply import is_daemon
from ingest.reading.clean_text import clean_text
from ingest.reading.ticket import TicketReading
from ingest.rules.threads import tagged_ticket
from ingest.store.models import Outbox, utcnow

REASON_CHARS = 500  # of the report's own words kept as the reply's last_error
_DIAGNOSTIC = re.compile(r"^Diagnostic-Code[ \t]*:[ \t]*(?:[^;\n]*;)?[ \t]*(.+)$", re.I | re.M)
_OURS = (Outbox.id, Outbox.ticket_id, Outbox.message_id, Outbox.to_addresses, Outbox.state)


def _from_daemon(reading: TicketReading) -> bool:
    return is_daemon(reading.mail.from_address)


def _trusted(reading: TicketReading) -> bool:
    """Only a mail system reports a delivery failure: a DSN or a MAILER-DAEMON/postmaster mail.
    Anything else that looks like a bounce (an operator's forwarded one) is ordinary mail."""
    mail = reading.mail
    return reading.bounce is not None and (
        _from_daemon(reading) or mail.report_type == "delivery-status"
    )


def _named(reading: TicketReading, addresses: list[str]) -> bool:
    """Whether the report names one of `addresses` as a recipient it could not reach."""
    bounce = reading.bounce
    text = f"{bounce.own_text}\n{reading.mail.delivery_status}".lower()
    named = {r.lower() for r in bounce.recipients}
    return any(a.lower() in named or a.lower() in text for a in addresses if a)


def bounced_reply(session: Session, reading: TicketReading):
    """The outbox row of ours that `reading` reports undeliverable, or None.

    By the returned Message-ID, which must be one of our outbox rows; failing that, by the
    returned subject's `[工单#N]` tag, only for a MAILER-DAEMON/postmaster report that names the
    recipient of one of that ticket's replies (the newest such reply)."""
    if not _trusted(reading):
        return None
    bounce, conn = reading.bounce, session.connection()
    ids = [i for i in bounce.message_ids if i]
    if ids:
        row = conn.execute(
            select(*_OURS).where(Outbox.message_id.in_(ids)).order_by(Outbox.id.desc()).limit(1)
        ).first()
        if row is not None:
            return row
    tag = tagged_ticket(bounce.subject) or tagged_ticket(reading.mail.subject)
    if tag is None or not _from_daemon(reading):
        return None
    rows = conn.execute(
        select(*_OURS)
        .where(Outbox.ticket_id == tag, Outbox.state.in_(("sent", "bounced")))
        .order_by(Outbox.id.desc())
    ).all()
    return next((r for r in rows if _named(reading, r.to_addresses)), None)


def reason_of(reading: TicketReading) -> str:
    """Why it bounced, in the report's own words (the DSN's diagnostic first), on one line."""
    diagnostic = _DIAGNOSTIC.findall(reading.mail.delivery_status)
    text = " ".join([*diagnostic, reading.bounce.own_text])
    return " ".join(clean_text(text).split())[:REASON_CHARS]


def mark_bounced(session: Session, row, reason: str, now: datetime | None = None) -> None:
    """The reply did not reach its recipient. A reply being handed over this very moment is left
    to its sender (the report is about an earlier copy; it is kept on the thread all the same)."""
    session.connection().execute(
        update(Outbox.__table__)
        .where(Outbox.id == row.id, Outbox.state != "sending")
        .values(state="bounced", bounced_at=now or utcnow(), last_error=reason)
    )
