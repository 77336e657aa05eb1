"""Recognise mail that must never be answered: auto-replies, bounces, lists, ourselves (SPEC §6)."""

from __future__ import annotations

import re

from ingest.reading.email_reader import Email

_AUTO_SUBJECT = re.compile(
    r"^\s*(?:自动回复|auto[\s-]*reply|automatic\s+reply|out\s+of\s+(?:the\s+)?office|退信|系统退信"
    r"|undeliverable|undelivered\s+mail|delivery\s+status\s+notification|returned\s+mail"
    r"|mail\s+delivery\s+(?:failed|failure|system))",
    re.I,
)
_DAEMON = re.compile(r"^(?:mailer-daemon|postmaster)@", re.I)


def auto_reason(mail: Email, own_addresses: tuple[str, ...] = ()) -> str | None:
    """Why `mail` must not be answered, or None when it may be."""
    h = mail.headers
    auto_submitted = h.get("auto-submitted", "").strip().lower()
    if auto_submitted and auto_submitted.split(";")[0].strip() != "no":
        return f"Auto-Submitted: {auto_submitted}"
    for name in ("x-autoreply", "x-autorespond"):
        if name in h:
            return f"{name} header"
    suppress = {v.strip().lower() for v in h.get("x-auto-response-suppress", "").split(",")}
    if suppress & {"all", "oof"}:
        return "X-Auto-Response-Suppress"
    precedence = h.get("precedence", "").strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    if "list-id" in h or "list-unsubscribe" in h:
        return "mailing list"
    if "return-path" in h and h["return-path"].strip() in ("<>", ""):
        return "empty Return-Path"
    sender = mail.from_address.lower()
    if _DAEMON.match(sender) or sender in ("mailer-daemon", "postmaster"):
        return "mailer daemon"
    if mail.content_type == "multipart/report":
        return "delivery or read report"
    if sender and sender in {a.lower() for a in own_addresses}:
        return "our own address"
    if _AUTO_SUBJECT.match(mail.subject):
        return "automatic reply subject"
    return None
