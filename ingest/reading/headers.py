"""Mail headers as real clients break them: a repaired header block, raw 8-bit values, file
names and addresses (SPEC §3a)."""

from __future__ import annotations

import email.utils
import re
from email.message import Message

from ingest.reading import charsets
from ingest.reading.addresses import canonical_address, mailbox_of
from ingest.reading.clean_text import clean_text

# --------------------------------------------------------------------------- the header block

# A line the standard parser takes for a header: a field name and a colon, a fold (leading
# whitespace) or the mbox `From ` line. Anything else ends its headers and starts the body, so
# a subject folded without whitespace, or a stray line pasted above the headers, would lose
# every header after it. A line starting `=?` is an encoded word folded without whitespace
# (a Q-encoded word may hold a colon).
_SUSPECT = re.compile(rb"^(?:(?![ \t]|[!-9;-~]+:)|=\?)", re.M)
_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:")
# Names that show a line really is a mail header, so that a body written straight after the
# headers (no blank line) is not taken for more headers.
_KNOWN = re.compile(
    rb"(?:from|to|cc|bcc|subject|date|message-id|in-reply-to|references|reply-to|sender"
    rb"|received|return-path|delivered-to|mime-version|importance|priority|thread-\w+"
    rb"|auto-submitted|precedence|authentication-results|dkim-signature|user-agent"
    rb"|(?:content|x|list|arc|resent|disposition)-[!-9;-~]*)",
    re.I,
)
# Decoration pasted among headers (`---- Original email message ----`): dropped, not folded.
_DECORATION = re.compile(rb"^\s*[-=*_~]{2,}(?:.*[-=*_~]{2,})?\s*$")


def _header_end(raw: bytes) -> int:
    """Where the header block ends: the first blank line (or the end)."""
    ends = [at for at in (raw.find(b"\n\n"), raw.find(b"\n\r\n")) if at >= 0]
    return min(ends) + 1 if ends else len(raw)


def repair(raw: bytes) -> bytes:
    """`raw` with its header block mended so that no header is lost after a broken line.

    A line before the first header is dropped; a line among headers is folded onto the header
    above it (a subject continued without leading whitespace) or, when it is decoration,
    dropped. Lines after the last real header are left to start the body, as before.
    """
    end = _header_end(raw)
    head = raw[:end]
    # The mbox `From ` line may open the block; the last newline ends it.
    start = head.find(b"\n") + 1 if head.startswith(b"From ") else 0
    if _SUSPECT.search(head, start, max(start, end - 1)) is None:
        return raw  # the common case: one scan, no copy
    lines = head.split(b"\n")
    kinds = []  # "field", "fold" or "stray", per line
    for n, line in enumerate(lines):
        field = _FIELD.match(line)
        if line[:1] in (b" ", b"\t") or (n == 0 and line.startswith(b"From ")):
            kinds.append("fold")
        elif field and not line.startswith(b"=?"):
            kinds.append("field" if _KNOWN.fullmatch(field.group(1)) else "other")
        elif not line.strip():
            kinds.append("fold")  # the blank line that ends the block
        else:
            kinds.append("stray")
    last_known = max((n for n, k in enumerate(kinds) if k == "field"), default=-1)
    out: list[bytes] = []
    seen_field = False
    for n, (line, kind) in enumerate(zip(lines, kinds, strict=True)):
        if kind == "stray" and n < last_known:
            if not seen_field or _DECORATION.match(line.rstrip(b"\r")):
                continue
            line = b" " + line
        seen_field = seen_field or kind in ("field", "other")
        out.append(line)
    return b"\n".join(out) + raw[end:]


# --------------------------------------------------------------------------- raw 8-bit values

_ISO2022_JP = re.compile(r"\x1b(?:\$[@B(]|\([BJI])")
_JAPANESE = ("iso2022_jp", "shift_jis", "cp932", "euc_jp", "euc_jis", "shift_jis_2004")


def _japanese(data: bytes) -> str | None:
    """Japanese text in Shift_JIS or EUC-JP: kana make up a fifth of its characters.

    Chinese text read as Shift_JIS gives half-width katakana, read as EUC-JP gives no kana.
    """
    for codec in ("cp932", "euc_jp"):
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        wide = [ch for ch in text if ord(ch) > 0x7F]
        kana = sum(1 for ch in wide if "\u3041" <= ch <= "\u30ff")
        if wide and kana * 5 >= len(wide) and not any("\uff61" <= ch <= "\uff9f" for ch in wide):
            return text
    return None


def decode_bytes(data: bytes, declared: str | None) -> str:
    """Raw 8-bit header bytes as text: UTF-8 (RFC 6532), else the declared charset of the
    message or part, else a guess that knows Japanese as well as Chinese."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    codec = charsets.codec_for(declared)
    if codec and codec.startswith(_JAPANESE):
        for name in (codec, "cp932", "euc_jp"):
            try:
                return data.decode(name)
            except (UnicodeDecodeError, LookupError):
                continue
    elif codec and codec != "ascii":
        return charsets.decode(data, declared)
    return _japanese(data) or charsets.guess(data)


def header_text(value: str, declared: Charset = None) -> str:
    """A raw header value (8-bit bytes kept as surrogate escapes) as text, not yet cleaned."""
    if value.isascii():
        if "\x1b" in value and _ISO2022_JP.search(value):  # raw ISO-2022-JP, escapes and all
            try:
                return value.encode("ascii").decode("iso2022_jp_2")
            except UnicodeDecodeError:
                return value
        return value
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return value  # already text
    return decode_bytes(data, _resolve(declared))


class Declared:
    """The charset a message declares (its own, else its first text part's), looked up once and
    only when a raw 8-bit value needs it: most mail has none."""

    def __init__(self, message: Message):
        self._message: Message | None = message
        self._charset: str | None = None

    def __call__(self) -> str | None:
        message, self._message = self._message, None
        if message is not None:
            self._charset = message.get_content_charset()
            if not self._charset and message.is_multipart():
                texts = (p for p in message.walk() if p.get_content_maintype() == "text")
                self._charset = next(filter(None, (p.get_content_charset() for p in texts)), None)
        return self._charset


Charset = str | None | Declared


def _resolve(declared: Charset) -> str | None:
    return declared() if isinstance(declared, Declared) else declared


# --------------------------------------------------------------------------- file names


def file_name(part: Message, declared: Charset = None) -> str:
    """A part's file name: RFC 2231 (`filename*=gb2312''...`), RFC 2047, or raw 8-bit bytes in
    the part's or message's charset; cleaned."""
    raw = {name.lower(): str(value) for name, value in part.raw_items()}
    source = part
    if not all(raw.get(h, "").isascii() for h in ("content-disposition", "content-type")):
        # Raw 8-bit parameters: decode the header first; the standard library would give U+FFFD.
        charset = part.get_content_charset() or _resolve(declared)
        source = Message()
        for h in ("content-disposition", "content-type"):
            if h in raw:
                source[h] = header_text(raw[h], charset)
    value = source.get_param("filename", header="content-disposition") or source.get_param("name")
    if isinstance(value, tuple):  # RFC 2231: (charset, language, percent-decoded text)
        charset, _, text = value
        return clean_text(charsets.decode(bytes(text, "raw-unicode-escape"), charset or None))
    return clean_text(charsets.decode_header(email.utils.unquote(value))) if value else ""


# --------------------------------------------------------------------------- addresses

_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
# Quoted strings and comments (one level of nesting), blanked before looking for `<…>`.
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"?|\((?:[^()\\]|\\.|\((?:[^()\\]|\\.)*\))*\)?')
_ANGLE = re.compile(r"<([^<>]*)>")
# Address-like text in a display name or comment.
_ADDRESS_LIKE = re.compile(r"[^\s<>()\"',;:@\[\]]+@[^\s<>()\"',;:@\[\]]+\.[^\s<>()\"',;:@\[\]]+")


def _blank(match: re.Match) -> str:
    return "_" * len(match.group(0))


def _angle_entries(value: str) -> list[tuple[str, str]] | None:
    """(display name, address) per entry when an entry carries its address in angle brackets:
    the address is what the brackets hold, whatever address-like text stands before them
    (`ops@a.cn <attacker@b.cn>` is from attacker@b.cn, SPEC §6b). None when no entry does."""
    masked = _QUOTED.sub(_blank, value)
    if not _ANGLE.search(masked):
        return None
    entries, start = [], 0
    for end in [m.start() for m in re.finditer(",", masked)] + [len(value)]:
        text, shape = value[start:end], masked[start:end]
        start = end + 1
        angle = _ANGLE.search(shape)
        if angle:
            name = text[: angle.start()].strip()
            name = email.utils.unquote(name) if name.startswith('"') else name
            entries.append((name, angle.group(1).strip()))
        else:
            entries.extend(email.utils.getaddresses([text]))
    return entries


def _pairs(value: str) -> list[tuple[str, str]]:
    """(raw display name, canonical address) pairs; an encoded word holding a comma stays in its
    name."""
    if not value:
        return []
    words: list[str] = []
    if "=?" in value and "," in value:

        def hide(match: re.Match) -> str:
            words.append(match.group(0))
            return f"ENCODEDWORD{len(words) - 1}X"

        value = _ENCODED_WORD.sub(hide, value)
    pairs = _angle_entries(value)
    if pairs is None:
        pairs = email.utils.getaddresses([value])
    if words:
        for n, word in enumerate(words):
            pairs = [(name.replace(f"ENCODEDWORD{n}X", word), addr) for name, addr in pairs]
    return [(name, canonical_address(address)) for name, address in pairs]


def addresses(value: str) -> list[str]:
    """Every address in an address header, in its canonical form (SPEC §6b)."""
    return [address for _, address in _pairs(value) if address]


def first_address(value: str) -> tuple[str, str]:
    """(display name, address) of the first entry that has an address (`"…" <>` has none);
    the name decoded and cleaned, the address canonical."""
    pairs = _pairs(value)
    chosen = next((p for p in pairs if "@" in p[1]), None) or next((p for p in pairs if p[1]), None)
    name, address = chosen or (pairs[0][0] if pairs else "", "")
    return clean_text(charsets.decode_header(name)).strip(), address


def claims_other_address(display_name: str, address: str) -> bool:
    """Does a display name (or comment) hold address-like text other than the real address?
    (`"ops@a.cn" <attacker@b.cn>`: flagged `display_name_address`, SPEC §6b.)"""
    if "@" not in display_name:
        return False
    real = mailbox_of(address)
    return any(mailbox_of(found) != real for found in _ADDRESS_LIKE.findall(display_name))


# --------------------------------------------------------------------------- every value


def header_values(message: Message, declared: Charset = None) -> dict[str, list[str]]:
    """Every header's values by lower-cased name, as text: raw 8-bit values decoded (in the
    message's declared charset first), then cleaned, since ids and addresses are stored from
    these: no NUL, no escapes (SPEC §3a)."""
    values: dict[str, list[str]] = {}
    for name, value in message.raw_items():  # raw: 8-bit bytes kept as surrogate escapes
        value = clean_text(header_text(str(value), declared))
        values.setdefault(name.lower(), []).append(value)
    return values
