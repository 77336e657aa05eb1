"""Which delivery failure reports count, and what they say (SPEC §6a): pure rules over a reading;
the store finds the reply a report is about."""

from __future__ import annotations

import re

from ingest.reading.autoreply import is_daemon
from ingest.reading.clean_text import clean_text
from ingest.reading.ticket import TicketReading

REASON_CHARS = 500  # of the report's own words kept as the reply's last_error
_DIAGNOSTIC = re.compile(r"^Diagnostic-Code[ \t]*:[ \t]*(?:[^;\n]*;)?[ \t]*(.+)$", re.I | re.M)


def from_daemon(reading: TicketReading) -> bool:
    return is_daemon(reading.mail.from_address)


def trusted(reading: TicketReading) -> bool:
    """Only a mail system reports a delivery failure: a DSN or a MAILER-DAEMON/postmaster mail.
    Anything else that looks like a bounce (an operator's forwarded one) is ordinary mail."""
    mail = reading.mail
    return reading.bounce is not None and (
        from_daemon(reading) or mail.report_type == "delivery-status"
    )


def names_recipient(reading: TicketReading, addresses: list[str]) -> bool:
    """Whether the report names one of `addresses` as a recipient it could not reach."""
    bounce = reading.bounce
    text = f"{bounce.own_text}\n{reading.mail.delivery_status}".lower()
    named = {r.lower() for r in bounce.recipients}
    return any(a.lower() in named or a.lower() in text for a in addresses if a)


def reason_of(reading: TicketReading) -> str:
    """Why it bounced, in the report's own words (the DSN's diagnostic first), on one line."""
    diagnostic = _DIAGNOSTIC.findall(reading.mail.delivery_status)
    text = " ".join([*diagnostic, reading.bounce.own_text])
    return " ".join(clean_text(text).split())[:REASON_CHARS]
