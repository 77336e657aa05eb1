"""The parts of a report (RFC 6522: a DSN's delivery status) and the headers of the messages a
mail carries inside it, as plain data for ingest/reading/bounces.py."""

from __future__ import annotations

import email
import re
from dataclasses import dataclass, field
from email.message import Message

from ingest.reading import charsets, headers
from ingest.reading.clean_text import clean_text

_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


@dataclass
class Report:
    report_type: str = ""  # multipart/report's report-type, lower-cased
    delivery_status: str = ""  # the message/delivery-status part as its `Name: value` lines
    # The Message-ID and Subject of each message inside (message/rfc822 parts, a DSN's
    # text/rfc822-headers part).
    inner_headers: list[dict[str, str]] = field(default_factory=list)


def _inner(message: Message, declared: headers.Charset) -> dict[str, str]:
    values = headers.header_values(message, declared)
    ids = _MESSAGE_ID.findall((values.get("message-id") or [""])[0])
    subject = (values.get("subject") or [""])[0]
    return {
        "message-id": ids[0] if ids else "",
        "subject": clean_text(charsets.decode_header(subject)),
    }


def _status_text(part: Message) -> str:
    blocks = (p for p in part.get_payload() or [] if isinstance(p, Message))
    return "\n\n".join("\n".join(f"{k}: {v}" for k, v in b.items()) for b in blocks)


def _header_block(part: Message) -> Message:
    """A text/rfc822-headers part, parsed as the headers it holds."""
    payload = part.get_payload(decode=True) or b""
    text = charsets.decode(payload, part.get_content_charset()) if payload else ""
    return email.message_from_string(text.lstrip() + "\n\n")


def report_of(message: Message, attached: list[Message], declared: headers.Charset) -> Report:
    """What a report says; the attached messages' headers for any mail (cheap: most have none)."""
    report = Report(inner_headers=[_inner(m, declared) for m in attached])
    if message.get_content_type() != "multipart/report":
        return report
    report.report_type = str(message.get_param("report-type", "")).lower()
    status = []
    for part in message.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status" and part.is_multipart():
            status.append(_status_text(part))
        elif ctype == "text/rfc822-headers":
            report.inner_headers.append(_inner(_header_block(part), declared))
    report.delivery_status = clean_text("\n\n".join(status))
    return report
