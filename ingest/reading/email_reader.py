"""Read one raw email into plain data: decoded headers, body text and attachment names."""

from __future__ import annotations

import email
import email.utils
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message

from ingest.reading import charsets
from ingest.reading.body_text import body_text
from ingest.reading.clean_text import clean_text

TOO_MANY_PARTS = "…"  # listed after the last attachment name when there were too many parts


class NotAnEmail(ValueError):
    """The bytes are not an email at all (empty or binary)."""


@dataclass
class Email:
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    from_address: str = ""
    from_name: str = ""
    reply_to: list[str] = field(default_factory=list)
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    subject: str = ""
    date: datetime | None = None
    content_type: str = "text/plain"
    body: str = ""
    attachments: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased name -> first raw value
    attached_messages: list[str] = field(default_factory=list)  # text of message/rfc822 parts
    auth_results: list[str] = field(default_factory=list)  # every Authentication-Results header


def _addresses(value: str) -> list[str]:
    if not value:
        return []
    return [addr.strip().lower() for _, addr in email.utils.getaddresses([value]) if addr.strip()]


def _message_ids(value: str) -> list[str]:
    ids = []
    for token in value.replace(",", " ").split():
        token = token.strip()
        if token.startswith("<") and token.endswith(">") and len(token) > 2:
            ids.append(token)
    return ids


def _first_date(value: str) -> datetime | None:
    try:
        return email.utils.parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def read_email(raw: bytes, max_parts: int = 200) -> Email:
    """Read raw email bytes. Raises NotAnEmail for empty or binary input; never for odd mail."""
    head = raw[:65536]
    if not raw.strip():
        raise NotAnEmail("not an email: the file is empty")
    # The standard library's parser, which mail-parser wraps: everything mail-parser adds on top
    # (decoded copies of every part and attachment) this reader does its own way, so calling it
    # would only double the cost of reading (see README, Performance).
    message = email.message_from_bytes(raw)
    attachments = _attachment_names(message, max_parts)
    if message is None or (
        len(message.keys()) == 0 and (b"\x00" in head or not _looks_textual(head))
    ):
        raise NotAnEmail("not an email: no mail headers and binary content")

    headers: dict[str, str] = {}
    auth_results: list[str] = []
    for name, value in message.raw_items():  # raw: 8-bit bytes kept as surrogate escapes
        value = str(value)
        if not value.isascii():  # raw 8-bit bytes: make them text once, here
            value = charsets.decode(value.encode("ascii", "surrogateescape"), None)
        value = clean_text(value)  # ids and addresses are stored from these: no NUL, no escapes
        name = name.lower()
        headers.setdefault(name, value)
        if name == "authentication-results":
            auth_results.append(value)

    attached: list[Message] = []
    # Cleaned before any field is read from it, so every value stored is clean (SPEC §3a).
    body = clean_text(body_text(message, attached))
    attached_messages = [clean_text(body_text(inner)) for inner in attached]

    # Addresses are ASCII: split the raw header, then decode only the display name.
    from_pairs = email.utils.getaddresses([headers.get("from", "")])
    from_name, from_address = from_pairs[0] if from_pairs else ("", "")
    from_name = clean_text(charsets.decode_header(from_name))  # encoded words may hide escapes
    return Email(
        message_id=(_message_ids(headers.get("message-id", "")) or [""])[0],
        in_reply_to=(_message_ids(headers.get("in-reply-to", "")) or [""])[0],
        references=_message_ids(headers.get("references", "")),
        from_address=from_address.strip().lower(),
        from_name=from_name.strip(),
        reply_to=_addresses(headers.get("reply-to", "")),
        to=_addresses(headers.get("to", "")),
        cc=_addresses(headers.get("cc", "")),
        subject=clean_text(charsets.decode_header(headers.get("subject", ""))),
        date=_first_date(headers.get("date", "")),
        content_type=message.get_content_type(),
        body=body.strip("\n"),
        attachments=attachments,
        headers=headers,
        attached_messages=[text for text in attached_messages if text.strip()],
        auth_results=auth_results,
    )


def _file_name(part: Message) -> str:
    """A part's file name: RFC 2231 (`filename*=gb2312''...`) or RFC 2047, in any charset."""
    value = part.get_param("filename", header="content-disposition") or part.get_param("name")
    if isinstance(value, tuple):  # RFC 2231: (charset, language, percent-decoded text)
        charset, _, text = value
        return charsets.decode(bytes(text, "raw-unicode-escape"), charset or None)
    return charsets.decode_header(email.utils.unquote(value)) if value else ""


def _attachment_names(message: Message, max_parts: int = 200) -> list[str]:
    names = []
    for n, part in enumerate(message.walk()):
        if n >= max_parts:
            names.append(TOO_MANY_PARTS)
            break
        if "content-disposition" not in part and "name" not in str(part.get("content-type", "")):
            continue  # no file name to read, without parsing parameters
        try:
            name = _file_name(part)
        except Exception:  # a broken parameter only loses the name, never the mail
            continue
        name = clean_text(name)
        if name.strip():
            names.append(name)
    return names


def _looks_textual(data: bytes) -> bool:
    controls = sum(1 for b in data[:4096] if b < 0x20 and b not in (9, 10, 13))
    return controls * 20 < max(1, len(data[:4096]))
