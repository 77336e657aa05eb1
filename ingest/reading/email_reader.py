"""Read one raw email into plain data: decoded headers, body text and attachment names."""

from __future__ import annotations

import email
import email.utils
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message

from ingest.reading import charsets, headers, reports
from ingest.reading.body_text import body_text
from ingest.reading.clean_text import clean_text
from ingest.reading.html_text import UNIT_END

_OFFICE = (".docx", ".xlsx")  # a ticket may come as one of these (SPEC §3b)
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp")  # read as screenshots (SPEC §14)
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
    # The body with html_text's UNIT_END lines where a table unit ends, for the field reader;
    # "" when it has none (the body is then the text to read).
    units: str = ""
    attachments: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # lower-cased name -> first value
    header_values: dict[str, list[str]] = field(default_factory=dict)  # name -> every value
    attached_messages: list[str] = field(default_factory=list)  # text of message/rfc822 parts
    auth_results: list[str] = field(default_factory=list)  # every Authentication-Results header
    # A report's parts (RFC 6522): multipart/report's report-type, the message/delivery-status
    # text, and the Message-ID and Subject of each message it returns (message/rfc822 or
    # text/rfc822-headers; forwarded-as-attachment messages too).
    report_type: str = ""
    delivery_status: str = ""
    inner_headers: list[dict[str, str]] = field(default_factory=list)
    # .docx/.xlsx attachments (name, MIME part): decoded only if the text holds no ticket (§3b)
    office_parts: list[tuple[str, Message]] = field(default_factory=list)
    # PNG/JPEG/WebP parts, attached or inline (name, MIME part): read only when fields lack (§14)
    image_parts: list[tuple[str, Message]] = field(default_factory=list)


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
    # would only double the cost of reading (see docs/performance.md).
    # A header folded without whitespace, or a stray line among the headers, would end them.
    message = email.message_from_bytes(headers.repair(raw))
    declared = headers.Declared(message)  # looked up only for a raw 8-bit value
    office_parts: list[tuple[str, Message]] = []
    image_parts: list[tuple[str, Message]] = []
    attachments = _attachment_names(message, max_parts, declared, office_parts, image_parts)
    if message is None or (
        len(message.keys()) == 0 and (b"\x00" in head or not _looks_textual(head))
    ):
        raise NotAnEmail("not an email: no mail headers and binary content")

    values = headers.header_values(message, declared)
    first = {name: found[0] for name, found in values.items()}

    attached: list[Message] = []
    # Cleaned before any field is read from it, so every value stored is clean (SPEC §3a).
    body = clean_text(body_text(message, attached))
    attached_messages = [clean_text(body_text(inner)) for inner in attached]
    units = body.strip("\n") if UNIT_END in body else ""

    report = reports.report_of(message, attached, declared)
    # Several From headers are one From list: the first entry with an address (SPEC §3b).
    from_name, from_address = headers.first_address(", ".join(values.get("from", [])))
    return Email(
        message_id=(_message_ids(first.get("message-id", "")) or [""])[0],
        in_reply_to=(_message_ids(first.get("in-reply-to", "")) or [""])[0],
        references=_message_ids(first.get("references", "")),
        from_address=from_address,
        from_name=from_name,
        reply_to=headers.addresses(first.get("reply-to", "")),
        to=headers.addresses(first.get("to", "")),
        cc=headers.addresses(first.get("cc", "")),
        subject=clean_text(charsets.decode_header(first.get("subject", ""))),
        date=_first_date(first.get("date", "")),
        content_type=message.get_content_type(),
        body=without_units(units) if units else body.strip("\n"),
        units=units,
        attachments=attachments,
        headers=first,
        header_values=values,
        attached_messages=[text for text in attached_messages if text.strip()],
        # As received, not cleaned: a verdict is trusted only as our server wrote it (SPEC §8).
        auth_results=[str(v) for v in message.get_all("authentication-results", [])],
        report_type=report.report_type,
        delivery_status=report.delivery_status,
        inner_headers=report.inner_headers,
        office_parts=office_parts,
        image_parts=image_parts,
    )


def names_read_again(raw: bytes) -> list[str]:
    """The attachment names of a mail stored already, read again from its bytes; none for one
    that cannot be read again (there are no attachments to show)."""
    try:
        return read_email(raw).attachments
    except Exception:
        return []


def without_units(text: str) -> str:
    """`text` without its UNIT_END lines: the body as stored and shown."""
    return "\n".join(line for line in text.split("\n") if line != UNIT_END)


def _attachment_names(
    message: Message,
    max_parts: int = 200,
    declared: headers.Charset = None,
    office_parts: list[tuple[str, Message]] | None = None,
    image_parts: list[tuple[str, Message]] | None = None,
) -> list[str]:
    names = []
    for n, part in enumerate(message.walk()):
        if n >= max_parts:
            names.append(TOO_MANY_PARTS)
            break
        content_type = str(part.get("content-type", ""))
        if image_parts is not None and content_type[:6].lower() == "image/":
            _keep_image(part, declared, image_parts)
        if "content-disposition" not in part and "name" not in content_type:
            continue  # no file name to read, without parsing parameters
        try:
            name = headers.file_name(part, declared)
        except Exception:  # a broken parameter only loses the name, never the mail
            continue
        if name.strip():
            names.append(name)
            if office_parts is not None and name.lower().rstrip(" .").endswith(_OFFICE):
                office_parts.append((name, part))
    return names


def _keep_image(part: Message, declared: headers.Charset, found: list) -> None:
    """An inline or attached PNG/JPEG/WebP, kept undecoded; one without a file name is named by
    its Content-ID (an HTML mail's pasted screenshot)."""
    if part.get_content_type() not in IMAGE_TYPES:
        return
    try:
        name = headers.file_name(part, declared).strip()
    except Exception:  # a broken parameter only loses the name
        name = ""
    cid = str(part.get("content-id", "")).strip("<> ")[:60]
    found.append((name or cid or f"image{len(found) + 1}", part))


def _looks_textual(data: bytes) -> bool:
    controls = sum(1 for b in data[:4096] if b < 0x20 and b not in (9, 10, 13))
    return controls * 20 < max(1, len(data[:4096]))
