"""A stored email's attachments as people see them: name, type, size, and the bytes on request."""

from __future__ import annotations

import email
from dataclasses import dataclass

from ingest.reading import headers

MAX_PARTS = 200  # parts looked at, as when the mail was read


@dataclass(frozen=True)
class Attachment:
    name: str
    type: str
    size: int
    data: bytes = b""

    def as_json(self) -> dict:
        return {"name": self.name, "type": self.type, "size": self.size}


def has_attachments(raw: bytes) -> bool:
    """A cheap first look: mail without a file name parameter has no attachment to list."""
    return b"name" in raw


def attachments_of(raw: bytes, keep_data: bool = False) -> list[Attachment]:
    """The parts of `raw` that carry a file name, in order; their decoded bytes with `keep_data`.
    Never raises: a part that cannot be read is left out."""
    if not has_attachments(raw):
        return []
    try:
        message = email.message_from_bytes(headers.repair(raw))
    except Exception:  # an unreadable mail lists nothing
        return []
    declared = headers.Declared(message)
    found = []
    for n, part in enumerate(message.walk()):
        if n >= MAX_PARTS:
            break
        if part.is_multipart():
            continue
        if "content-disposition" not in part and "name" not in str(part.get("content-type", "")):
            continue
        try:
            name = headers.file_name(part, declared)
            data = part.get_payload(decode=True) or b""
        except Exception:  # a broken part loses its entry, never the listing
            continue
        if name.strip():
            found.append(
                Attachment(name, part.get_content_type(), len(data), data if keep_data else b"")
            )
    return found
