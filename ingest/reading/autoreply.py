"""Recognise mail that must never be answered: auto-replies, bounces, receipts, lists, ourselves
(SPEC §6, §6a)."""

from __future__ import annotations

import re

from ingest.reading.email_reader import Email

# Reply prefixes an automatic subject may hide behind (`Re: 自动回复：…`).
_REPLY_PREFIX = r"(?:(?:re|回复|回覆|答复|答覆)[ \t]*[:：][ \t]*)*"
# Words that start an automatic subject; they count only when a colon, a space, a bracket or the
# end follows (`自动回复功能怎么关闭？` is a person asking).
_AUTO_WORDS = (
    r"自[动動]回[复覆復]|自[动動]答[复覆復]|auto[ \t-]*reply|automatic[ \t]+reply"
    r"|out[ \t]+of[ \t]+(?:the[ \t]+)?office|系[统統]退信|退信|undeliverable|undelivered[ \t]+mail"
    r"|delivery[ \t]+status[ \t]+notification|returned[ \t]+mail|failure[ \t]+notice"
    r"|mail[ \t]+delivery[ \t]+(?:failed|failure|system)"
)
_AUTO_SUBJECT = re.compile(
    rf"^\s*{_REPLY_PREFIX}(?:"
    rf"(?:{_AUTO_WORDS})(?=[\s:：\[【(（]|$)"  # a word followed by a colon, space or bracket
    rf"|[\[【]\s*(?:{_AUTO_WORDS})\s*[\]】]"  # or standing in brackets itself
    r"|(?:已[读讀]|read)[ \t]*[:：]"  # a read receipt in plain text
    r")",
    re.I,
)
_DAEMON = re.compile(r"^(?:mailer-daemon|postmaster)@", re.I)
_SUPPRESS = {"all", "oof", "autoreply"}


def is_automatic_subject(subject: str) -> bool:
    """A subject that an auto-reply, a bounce or a read receipt writes (SPEC §6a)."""
    return bool(_AUTO_SUBJECT.match(subject))


def is_daemon(address: str) -> bool:
    """MAILER-DAEMON or postmaster: the senders of bounces."""
    address = address.lower()
    return bool(_DAEMON.match(address)) or address in ("mailer-daemon", "postmaster")


def auto_reason(mail: Email, own_addresses: tuple[str, ...] = ()) -> str | None:
    """Why `mail` must not be answered, or None when it may be."""
    h = mail.headers
    for value in mail.header_values.get("auto-submitted", []):  # any of repeated headers
        value = value.strip().lower()
        if value and value.split(";")[0].strip() != "no":
            return f"Auto-Submitted: {value}"
    for name in ("x-autoreply", "x-autorespond"):
        if name in h:
            return f"{name} header"
    suppress = {v.strip().lower() for v in h.get("x-auto-response-suppress", "").split(",")}
    if suppress & _SUPPRESS:
        return "X-Auto-Response-Suppress"
    precedence = h.get("precedence", "").strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    if "list-id" in h or "list-unsubscribe" in h:
        return "mailing list"
    if "return-path" in h and re.fullmatch(r"<?\s*>?", h["return-path"].strip()):
        return "empty Return-Path"
    sender = mail.from_address.lower()
    if is_daemon(sender):
        return "mailer daemon"
    if mail.content_type == "multipart/report":
        return "delivery or read report"
    if sender and sender in {a.lower() for a in own_addresses}:
        return "our own address"
    if is_automatic_subject(mail.subject):
        return "automatic reply subject"
    return None
