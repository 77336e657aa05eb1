"""Recognise mail that must never be answered: auto-replies, bounces, receipts, lists, ourselves
(SPEC §6, §6a)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from ingest.reading.hant import alternation

if TYPE_CHECKING:
    from ingest.reading.email_reader import Email

# Words written in simplified characters; each matches in its traditional forms too (SPEC §3a).
_REPLY_WORDS = ("回复", "答复")  # prefixes an automatic subject may hide behind (`Re: 自动回复：`)
_AUTO_WORDS = ("自动回复", "自动答复", "系统退信", "退信")
_AUTO_ENGLISH = (
    r"auto[ \t-]*reply|automatic[ \t]+reply"
    r"|out[ \t]+of[ \t]+(?:the[ \t]+)?office|undeliverable|undelivered[ \t]+mail"
    r"|delivery[ \t]+status[ \t]+notification|returned[ \t]+mail|failure[ \t]+notice"
    r"|mail[ \t]+delivery[ \t]+(?:failed|failure|system)"
)


@lru_cache(maxsize=1)
def subject_pattern() -> re.Pattern:
    """An automatic subject, built on first use (its traditional forms come from hant). Its
    words count only when a colon, a space, a bracket or the end follows (`自动回复功能怎么关闭？`
    is a person asking), or when they stand in brackets themselves (`【自动回复】`)."""
    prefix = rf"(?:(?:re|{alternation(_REPLY_WORDS)})[ \t]*[:：][ \t]*)*"
    words = rf"{alternation(_AUTO_WORDS)}|{_AUTO_ENGLISH}"
    return re.compile(
        rf"^\s*{prefix}(?:"
        rf"(?:{words})(?=[\s:：\[【(（]|$)"  # a word followed by a colon, space or bracket
        rf"|[\[【]\s*(?:{words})\s*[\]】]"  # or standing in brackets itself
        rf"|(?:{alternation(('已读',))}|read)[ \t]*[:：]"  # a read receipt in plain text
        r")",
        re.I,
    )


_DAEMON = re.compile(r"^(?:mailer-daemon|postmaster)@", re.I)
_SUPPRESS = {"all", "oof", "autoreply"}


def is_automatic_subject(subject: str) -> bool:
    """A subject that an auto-reply, a bounce or a read receipt writes (SPEC §6a)."""
    return bool(subject_pattern().match(subject))


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
