"""Build the outgoing email's bytes: threading headers, auto-reply markers, safe headers (pure)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from datetime import datetime
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from functools import lru_cache

from ingest.reading.addresses import canonical_address
from ingest.reading.clean_text import clean_text
from ingest.rules.threads import reply_subject, subject_tag

SUBJECT_LIMIT = 200
REFERENCES_KEPT = 20  # ids kept from each end of a long References (SPEC §6b)
MESSAGE_ID_LIMIT = 900  # a msg-id has to fit one header line (998 octets)

# Header values we fold ourselves (message ids) are emitted as given: Python would otherwise
# turn a long msg-id into encoded words, and no client would thread on it any more.
_POLICY = policy.SMTP.clone(refold_source="none")

_SPACES = re.compile(r"[\s\u2028\u2029]+")
_MSG_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]+>")  # printable ASCII, no `<`, `>` or spaces
_DOMAIN = re.compile(r"[^A-Za-z0-9.-]")
_ADDR = re.compile(r'[^@\s<>,;:"()\\\[\]]+@[^@\s<>,;:"()\\\[\]]+')  # one plain addr-spec
_NAMED = re.compile(r"(?P<name>[^<>]*)<(?P<addr>[^<>]+)>")


def clean_header_text(text: str, limit: int | None = None) -> str:
    """One safe header line: controls, bidi marks and terminal escapes removed (clean_text),
    whitespace runs made one space."""
    # CR and LF break headers: they become spaces first (a folded subject had one there).
    text = clean_text(_SPACES.sub(" ", text or ""))
    text = _SPACES.sub(" ", text).strip()
    if limit and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def clean_message_id(value: str | None) -> str | None:
    """`<…>` when `value` is one msg-id token; None otherwise (it is dropped, never repaired)."""
    value = (value or "").strip()
    if len(value) <= MESSAGE_ID_LIMIT and _MSG_ID.fullmatch(value):
        return value
    return None


def make_message_id(domain: str) -> str:
    """A fresh Message-ID for a mail we send."""
    domain = _DOMAIN.sub("", domain or "").strip(".") or "localhost"
    return f"<gongdan.{time.time_ns()}.{secrets.token_hex(8)}@{domain}>"


def derived_message_id(kind: str, ticket_id: int, seed: str, domain: str) -> str:
    """A Message-ID that every run making the same mail derives alike (the database's unique
    index then refuses a second copy); from `seed`, a random id of ours, so not guessable."""
    domain = _DOMAIN.sub("", domain or "").strip(".") or "localhost"
    digest = hashlib.sha256(seed.encode("utf-8", "replace")).hexdigest()[:20]
    return f"<gongdan.{kind.replace('_', '-')}.{ticket_id}.{digest}@{domain}>"


def make_address(address: str, display_name: str = "") -> Address:
    """An Address from `a@b` or `Name <a@b>`, or ValueError for anything that is not one."""
    text = clean_header_text(address)
    named = _NAMED.fullmatch(text)
    name, addr = (named["name"].strip().strip('"').strip(), named["addr"]) if named else ("", text)
    if not _ADDR.fullmatch(addr):
        raise ValueError(f"not an email address: {address!r}")
    local, _, domain = canonical_address(addr).rpartition("@")
    if not local or not domain:
        raise ValueError(f"not an email address: {address!r}")
    # A non-ASCII local part is kept: sending asks the server for SMTPUTF8 (SPEC §6b).
    return Address(
        display_name=clean_header_text(display_name or name, 100), username=local, domain=domain
    )


def thread_references(references: list[str], in_reply_to: str | None) -> list[str]:
    """The original's References plus its Message-ID: valid ids, once each, parent last.

    Long threads keep their first REFERENCES_KEPT ids (the root that clients thread on) and the
    last REFERENCES_KEPT (the most recent), so a reply carries at most 2 * REFERENCES_KEPT + 1.
    Linear in the header's size: a References of any length costs one pass (SPEC §6b).
    """
    if isinstance(references, str):  # a raw References header, not split yet
        references = [references]
    parent = clean_message_id(in_reply_to)
    ids = dict.fromkeys(
        msg_id
        for entry in references or []
        for token in (entry or "").split()  # one entry may be a whole References header
        if (msg_id := clean_message_id(token)) and msg_id != parent
    )
    kept = list(ids)
    if len(kept) > 2 * REFERENCES_KEPT:
        kept = kept[:REFERENCES_KEPT] + kept[-REFERENCES_KEPT:]
    return [*kept, parent] if parent else kept


def _capped_reply_subject(original: str, ticket_id: int) -> str:
    subject = reply_subject(clean_header_text(original), ticket_id)
    tag = subject_tag(ticket_id)
    if len(subject) <= SUBJECT_LIMIT:
        return subject
    # `Re: <base> [工单#N]`: shorten the base, never the tag the thread depends on.
    base = subject[len("Re: ") : -len(tag)].strip()
    room = SUBJECT_LIMIT - len("Re: ") - len(tag) - 2
    return f"Re: {base[:room].rstrip()}… {tag}"


def _addresses(addresses: list[Address]) -> str:
    """The addresses of a From or To header, one a line (a long list never makes a line that
    is too long)."""
    return ",\r\n ".join(_address_text(a.display_name, a.addr_spec) for a in addresses)


@lru_cache(maxsize=256)
def _address_text(display_name: str, addr_spec: str) -> str:
    if addr_spec.isascii():
        return formataddr((display_name, addr_spec), charset="utf-8")
    # RFC 6532: a non-ASCII address is written as UTF-8; the name still as an encoded word.
    name = Header(display_name, "utf-8").encode() if display_name else ""
    return f"{name} <{addr_spec}>" if name else addr_spec


_WORD_BYTES = 36  # UTF-8 bytes per encoded word: 48 base64 characters, 60 with the markers


def _encoded_subject(subject: str) -> str:
    """`Re: ` stays readable; the rest becomes UTF-8 encoded words (RFC 2047), one a line, each
    cut between characters, folded with CRLF."""
    prefix = "Re: " if subject.startswith("Re: ") else ""
    data = subject[len(prefix) :].encode("utf-8", "replace")
    words, start = [], 0
    while start < len(data):
        end = min(start + _WORD_BYTES, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # never inside a character
            end -= 1
        words.append(f"=?utf-8?b?{base64.b64encode(data[start:end]).decode('ascii')}?=")
        start = end
    return prefix + "\r\n ".join(words)


def _headers(
    *,
    sender: Address,
    recipients: list[Address],
    subject: str,
    message_id: str,
    auto_submitted: str,
    date: datetime,
    threading: dict[str, str] | None = None,
) -> list[tuple[str, str]]:
    """The headers of every mail we send, written out (encoded words, folded with CRLF). Every
    value was cleaned before it got here."""
    own_id = clean_message_id(message_id)
    if not own_id:
        raise ValueError(f"not a Message-ID: {message_id!r}")
    return [
        ("From", _addresses([sender])),
        ("To", _addresses(recipients)),
        ("Subject", _encoded_subject(subject)),
        ("Date", format_datetime(date.astimezone())),
        ("Message-ID", own_id),
        *(threading or {}).items(),
        # RFC 3834, and Exchange's equivalent, so that out-of-office replies do not answer us.
        ("Auto-Submitted", auto_submitted),
        ("X-Auto-Response-Suppress", "All"),
    ]


def build_message(
    *,
    body: str,
    sender: Address,
    recipients: list[Address],
    subject: str,
    message_id: str,
    auto_submitted: str,
    date: datetime,
    threading: dict[str, str] | None = None,
) -> EmailMessage:
    """A text/plain EmailMessage with our headers, for a caller that adds parts to it (the
    digest adds its HTML)."""
    msg = EmailMessage(policy=_POLICY)
    for name, value in _headers(
        sender=sender,
        recipients=recipients,
        subject=subject,
        message_id=message_id,
        auto_submitted=auto_submitted,
        date=date,
        threading=threading,
    ):
        msg.set_raw(name, value)
    msg.set_content(_text(body), subtype="plain", charset="utf-8", cte="base64")
    return msg


def _text(body: str) -> str:
    """The body with one kind of line end, and no lone surrogate (it cannot be sent)."""
    text = (body or "").replace("\r\n", "\n").replace("\r", "\n")
    return text.encode("utf-8", "replace").decode("utf-8")


def _plain_bytes(*, body: str, **headers) -> bytes:
    """A text/plain message written out directly: what build_message makes, about twenty times
    faster (EmailMessage re-parses every header it is given)."""
    head = "".join(f"{name}: {value}\r\n" for name, value in _headers(**headers))
    text = _text(body)
    text = text if text.endswith("\n") else text + "\n"
    data = text.replace("\n", "\r\n").encode("utf-8")
    mime = (
        "MIME-Version: 1.0\r\n"
        'Content-Type: text/plain; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
    )
    return (
        (head + mime).encode("utf-8") + b"\r\n" + base64.encodebytes(data).replace(b"\n", b"\r\n")
    )


def compose_reply(
    *,
    body: str,
    from_address: str,
    to_address: str,
    original_subject: str,
    ticket_id: int,
    in_reply_to: str,
    references: list[str],
    message_id: str,
    date: datetime,
    from_name: str = "售后工单",
) -> bytes:
    """The raw RFC 5322 bytes of our reply on an operator's thread."""
    threading = {}
    if parent := clean_message_id(in_reply_to):
        threading["In-Reply-To"] = parent
    if chain := thread_references(references, in_reply_to):
        threading["References"] = "\r\n ".join(chain)  # one id a line: folded, never encoded
    return _plain_bytes(
        body=body,
        sender=make_address(from_address, from_name),
        recipients=[make_address(to_address)],
        subject=_capped_reply_subject(original_subject, ticket_id),
        message_id=message_id,
        auto_submitted="auto-replied",
        date=date,
        threading=threading,
    )
