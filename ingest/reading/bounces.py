"""Read a delivery failure report: that a mail bounced, and which one (SPEC §6a).

A bounce is a DSN (multipart/report; report-type=delivery-status, RFC 3464) that reports a
failure, or a report from MAILER-DAEMON/postmaster or under a bounce subject (163's 系统退信,
qmail's "failure notice", Postfix's text reports). What it says is its own text (the reason);
the copy of the returned mail it carries is only read for that mail's Message-ID and Subject,
never for ticket fields or stop codes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.reading import charsets
from ingest.reading.autoreply import is_automatic_subject, is_daemon
from ingest.reading.clean_text import clean_text
from ingest.reading.email_reader import Email

# Subjects of failure reports (a subset of the automatic subjects: no auto-replies, receipts).
_BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:系[统統]退信|退信|undeliverable|undelivered[ \t]+mail|returned[ \t]+mail"
    r"|failure[ \t]+notice|delivery[ \t]+status[ \t]+notification[ \t]*\(failure\)"
    r"|mail[ \t]+delivery[ \t]+(?:failed|failure|system)|delivery[ \t]+(?:failure|failed))",
    re.I,
)
# A daemon's warning that it is still trying is not a failure.
_WARNING = re.compile(r"delay|warning|延迟|延时|still being retried", re.I)
# Where a text report's copy of the returned mail begins: a marker line, or its headers.
_COPY = re.compile(
    r"^[ \t>]*(?:-{2,}[ \t]*Below this line is a copy of the message"
    r"|-{2,}[ \t]*This is a copy of the message"
    r"|-{2,}[ \t]*(?:The[ \t]+)?Original message"
    r"|-{2,}[ \t]*Undelivered message"
    r"|-{2,}[ \t]*(?:原始邮件|原邮件|退回的邮件|原始郵件)"
    r"|(?:Return-Path|Received|Message-ID|From|Date|Subject|To|MIME-Version)[ \t]*:)",
    re.I | re.M,
)
_ID_LINE = re.compile(r"^[ \t>]*Message-ID[ \t]*:[ \t]*(<[^<>\s]+>)", re.I | re.M)
_SUBJECT_LINE = re.compile(
    r"^[ \t>]*(?:Subject|主题|主題|邮件主题)[ \t]*[:：][ \t]*(.+)$", re.I | re.M
)
_ACTION = re.compile(r"^Action[ \t]*:[ \t]*([A-Za-z]+)", re.I | re.M)
_RECIPIENT = re.compile(r"^Final-Recipient[ \t]*:[^;\n]*;[ \t]*(\S+)", re.I | re.M)


@dataclass(frozen=True)
class Bounce:
    """What a delivery failure report says."""

    message_ids: tuple[str, ...]  # the Message-ID(s) of the mail that bounced, when it shows any
    subject: str  # that mail's subject, when shown
    recipients: tuple[str, ...]  # who could not be reached (DSN Final-Recipient)
    own_text: str  # the report's own words, without the copy of the returned mail


def _failed(mail: Email) -> bool | None:
    """Whether a DSN reports a failure; None when the mail is no DSN."""
    if mail.report_type != "delivery-status" and not mail.delivery_status:
        return None
    actions = {a.lower() for a in _ACTION.findall(mail.delivery_status)}
    return not actions or "failed" in actions


def read_bounce(mail: Email) -> Bounce | None:
    """The delivery failure that `mail` reports, or None when it is no bounce."""
    failed = _failed(mail)
    if failed is False:
        return None  # delayed, delivered or relayed: a notice, not a failure
    if failed is None:
        daemon = is_daemon(mail.from_address) or (
            mail.headers.get("return-path", "x").strip() in ("<>", "< >", "")
            and is_automatic_subject(mail.subject)
        )
        subject = bool(_BOUNCE_SUBJECT.match(mail.subject)) and is_automatic_subject(mail.subject)
        if not (daemon or subject) or _WARNING.search(mail.subject):
            return None
    copy = _COPY.search(mail.body)
    own_text = mail.body[: copy.start()] if copy else mail.body
    copied = mail.body[copy.start() :] if copy else ""
    ids = [h["message-id"] for h in mail.inner_headers if h.get("message-id")]
    ids += _ID_LINE.findall(copied)
    ids += [mail.in_reply_to] if mail.in_reply_to else []  # Exchange points at the returned mail
    subject = next((h["subject"] for h in mail.inner_headers if h.get("subject")), "")
    if not subject and (line := _SUBJECT_LINE.search(copied or mail.body)):
        subject = clean_text(charsets.decode_header(line.group(1)))
    return Bounce(
        message_ids=tuple(dict.fromkeys(ids)),
        subject=subject.strip(),
        recipients=tuple(dict.fromkeys(_RECIPIENT.findall(mail.delivery_status))),
        own_text=own_text.rstrip(),
    )
