"""Which delivery failure reports count, and what they say (SPEC §6a): pure rules over a reading;
the store finds the reply a report is about."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ingest.reading.autoreply import is_daemon
from ingest.reading.clean_text import clean_text
from ingest.reading.phones import mask_phones_in_text
from ingest.rules.threads import domain_of

if TYPE_CHECKING:  # the reader is loaded where mail is read; the digest only cleans reasons
    from ingest.reading.ticket import TicketReading

REASON_CHARS = 200  # of the report's own words kept and shown as the reply's last_error
# Whoever wrote a bounce wrote its reason: views say so (SPEC §6b).
REASON_LABEL = "对方系统退信原因："
# Where a text report (Postfix, qmail) says what happened to one recipient: `<a@b>: ...`.
_RECIPIENT_PARAGRAPH = re.compile(r"^[ \t]*<[^<>\s]+@[^<>\s]+>:", re.M)
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


def daemon_of(reading: TicketReading, domains: list[str]) -> bool:
    """A MAILER-DAEMON/postmaster report from one of `domains` (ours, the recipient's) or a host
    under it (mx.example.cn): only such
    a report may be matched to a reply by the ticket tag alone; anyone can write a tag and an
    address, and a stranger's "bounce" must not mark the operator's reply (SPEC §6b)."""
    # The domain's own mail hosts count too: Postfix signs MAILER-DAEMON@<its host name>.
    sender = domain_of(reading.mail.from_address)
    return from_daemon(reading) and any(
        sender == d or sender.endswith("." + d) for d in {domain_of(d) or d for d in domains if d}
    )


def names_recipient(reading: TicketReading, addresses: list[str]) -> bool:
    """Whether the report names one of `addresses` as a recipient it could not reach."""
    bounce = reading.bounce
    text = f"{bounce.own_text}\n{reading.mail.delivery_status}".lower()
    named = {r.lower() for r in bounce.recipients}
    return any(a.lower() in named or a.lower() in text for a in addresses if a)


def reason_of(reading: TicketReading) -> str:
    """Why it bounced, in the report's own words (the DSN's diagnostic first), cleaned."""
    diagnostic = _DIAGNOSTIC.findall(reading.mail.delivery_status)
    own = reading.bounce.own_text
    # The recipient's paragraph before the mail system's boilerplate: the reason is short.
    if (paragraph := _RECIPIENT_PARAGRAPH.search(own)) is not None:
        own = own[paragraph.start() :] + "\n" + own[: paragraph.start()]
    return clean_reason(" ".join([*diagnostic, own]))


def clean_reason(text: str) -> str:
    """A report's words as views show them: no control characters, phones masked, on one line,
    at most REASON_CHARS characters."""
    return mask_phones_in_text(" ".join(clean_text(text).split()))[:REASON_CHARS]


def shown_reason(text: str | None) -> str:
    """A bounce's reason for people, cleaned and labelled as the remote system's words."""
    return f"{REASON_LABEL}{clean_reason(text)}" if text else ""
