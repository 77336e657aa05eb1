"""The text a reader sees in a message's body parts: which parts, in what order (SPEC §3, §3a)."""

from __future__ import annotations

from email.message import Message

from ingest.reading import charsets
from ingest.reading.clean_text import drop_invisible
from ingest.reading.field_catalog import bare_label, count_label_words, count_labels
from ingest.reading.html_text import UNIT_END, html_to_text
from ingest.reading.stopcodes import bare_trigger


def _unflow(text: str, delsp: bool) -> str:
    """Join the soft line breaks of format=flowed text (RFC 3676): a line ending in a space."""
    out: list[str] = []
    joining = False
    for line in text.split("\n"):
        if line.startswith(" ") and not line.startswith("  "):
            line = line[1:]  # space-stuffing
        if joining and out:
            out[-1] += line
        else:
            out.append(line)
        joining = line.endswith(" ") and line.strip() != "--" and not line.startswith(">")
        if joining and delsp:
            out[-1] = out[-1][:-1]
    return "\n".join(out)


def part_text(part: Message) -> str:
    """A text part's payload, decoded whatever its charset, with `\\n` line ends."""
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogateescape")
    text = drop_invisible(
        charsets.decode(payload, part.get_content_charset())
        .replace("\r\n", "\n")
        .replace("\r", "\n")
    )
    if str(part.get_param("format", "")).lower() == "flowed":
        text = _unflow(text, str(part.get_param("delsp", "")).lower() == "yes")
    return text


def is_attachment(part: Message) -> bool:
    if "content-disposition" not in part and "name" not in str(part.get("content-type", "")):
        return False  # the common case, without parsing parameters
    return (
        part.get_content_disposition() == "attachment"
        or bool(part.get_param("name"))
        or bool(part.get("Content-Disposition") and part.get_filename())
    )


# One piece of body text: ("plain", its text) or ("html", its HTML source).
Unit = tuple[str, str]


def _unit_label(cell: str) -> bool:
    """A table cell that takes the next cell as its value: a field label or a stop-code trigger."""
    return bare_label(cell) or bare_trigger(cell)


def _text(units: list[Unit]) -> str:
    """The units' text; an HTML table's units end with UNIT_END lines (html_text)."""
    return "\n".join(
        html_to_text(source, _unit_label, UNIT_END) if kind == "html" else source
        for kind, source in units
    )


def _choose(options: list[list[Unit]]) -> list[Unit]:
    """multipart/alternative: the text part, unless it is empty or holds fewer distinct field
    labels than the HTML part (a Word or Excel table loses its labels in the text version)."""
    plain = next((o for o in options if o and all(kind == "plain" for kind, _ in o)), None)
    rich = next((o for o in reversed(options) if any(kind == "html" for kind, _ in o)), None)
    if plain is None or rich is None:
        return plain or rich or next((o for o in options if o), [])
    plain_text = _text(plain)
    if not plain_text.strip():
        return rich
    found = count_labels(plain_text)
    source = "\n".join(text for _, text in rich)
    if "&#" not in source and count_label_words(source) <= found:
        return plain  # the HTML cannot hold more labels: no need to convert it
    return rich if found < count_labels(_text(rich)) else plain


def _units(part: Message, attached: list[Message] | None) -> list[Unit]:
    if part.is_multipart():
        if part.get_content_type() == "message/rfc822":
            if attached is not None:
                attached.extend(p for p in part.get_payload() or [] if isinstance(p, Message))
            return []
        if is_attachment(part):
            return []
        children = [c for c in part.get_payload() or [] if isinstance(c, Message)]
        if part.get_content_subtype() == "alternative":
            return _choose([_units(child, attached) for child in children])
        # mixed, related, …: every part in order (a phone's text between inline photos).
        return [unit for child in children for unit in _units(child, attached)]
    ctype = part.get_content_type()
    if is_attachment(part) and part.get_content_disposition() != "inline":
        return []
    if ctype == "text/plain":
        return [("plain", part_text(part))]
    if ctype == "text/html":
        return [("html", part_text(part))]
    return []


def body_text(message: Message, attached: list[Message] | None = None) -> str:
    """The body's text: the parts a reader sees, joined by a newline.

    Messages attached as message/rfc822 (Outlook's "forward as attachment") go to `attached`.
    """
    return _text(_units(message, attached))
