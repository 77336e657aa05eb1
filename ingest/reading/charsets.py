"""Turn the bytes Chinese mail clients send into correct text, whatever charset they declare."""

from __future__ import annotations

import codecs
import email.header
import re
from functools import lru_cache
from importlib import resources

# Chinese clients label GBK and GB18030 text as gb2312; GB18030 is a superset of all of them.
# Big5 mail often carries HKSCS characters; big5hkscs is a superset of big5.
_SUPERSETS = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "gb18030": "gb18030",
    "big5": "big5hkscs",
    "big5hkscs": "big5hkscs",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "utf-8": "utf-8",
    "latin-1": "cp1252",  # what clients mean by iso-8859-1, as every browser does
    "iso8859-1": "cp1252",
}
# Charsets that decode any byte sequence, so a wrong label never fails loudly.
_SINGLE_BYTE = {"cp1252", "iso8859-15", "ascii"}
# Charsets whose text is all ASCII bytes (HZ is an old Chinese one).
_SEVEN_BIT = ("iso2022", "hz", "utf-7")
# The most undecodable bytes a declared charset may have, as a share of the non-ASCII bytes.
MAX_BAD_SHARE = 0.02
_BAD_BYTE = re.compile("[\udc80-\udcff]")
_ASCII = bytes(range(128))
# Tried, in order, for text whose charset is missing or wrong.
_GUESSES = ("gb18030", "big5hkscs", "koi8-r", "cp1251", "cp1252")


@lru_cache(maxsize=1)
def _common_hanzi() -> frozenset[str]:
    text = resources.files("ingest").joinpath("data/common_hanzi.txt").read_text("utf-8")
    return frozenset("".join(line for line in text.splitlines() if not line.startswith("#")))


@lru_cache(maxsize=256)
def codec_for(label: str | None) -> str | None:
    """The Python codec to decode text declared as `label`, or None when unknown or absent."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):  # unknown, or garbage such as NUL or 8-bit bytes
        if label in ("x-gbk", "gb_2312-80", "csgb2312", "euc-cn", "cp936", "x-euc-cn"):
            return "gb18030"
        return None
    return _SUPERSETS.get(name, name)


def _is_cjk(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def _plausibility(text: str, codec: str) -> float:
    """How much `text` (decoded with `codec`) looks like real writing, from 0 to 1."""
    wide = [ch for ch in text if ord(ch) > 0x7F and not ch.isspace()]
    if not wide:
        return 1.0
    if codec == "gb18030":
        common = _common_hanzi()
        good = sum(1 for ch in wide if ch in common or not (_is_cjk(ch) or ch.isalpha()))
        return good / len(wide)
    if codec == "big5hkscs":
        good = 0
        for ch in wide:
            lead = ch.encode("big5hkscs", "ignore")[:1]
            # Big5's 5,401 frequently used characters sit under lead bytes A4-C6.
            if lead and (0xA4 <= lead[0] <= 0xC6 or lead[0] <= 0xA3):
                good += 1
        return good / len(wide)
    if codec in ("koi8-r", "cp1251"):
        return sum(1 for ch in wide if "\u0410" <= ch <= "\u044f" or ch in "Ёё") / len(wide)
    # Latin text has accented letters standing alone between ASCII letters.
    good = 0
    for i, ch in enumerate(text):
        if ord(ch) > 0x7F and ch.isalpha():
            before = text[i - 1] if i else " "
            after = text[i + 1] if i + 1 < len(text) else " "
            if ord(before) < 0x80 and ord(after) < 0x80:
                good += 1
    return good / len(wide)


def _best_guess(data: bytes) -> tuple[str, str, float]:
    """(text, codec, plausibility) of the most plausible decoding of undeclared bytes."""
    try:
        return data.decode("utf-8"), "utf-8", 1.0
    except UnicodeDecodeError:
        pass
    best = (data.decode("gb18030", "replace"), "gb18030", 0.0)
    for codec in _GUESSES:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        score = _plausibility(text, codec)
        if score > best[2] + 0.05:
            best = (text, codec, score)
        if score >= 0.95:
            break
    return best


def guess(data: bytes) -> str:
    """Decode bytes whose charset is unknown: UTF-8, else the most plausible legacy charset."""
    return _best_guess(data)[0]


def decode(data: bytes, declared: str | None) -> str:
    """Decode a text part or header word declared as `declared`, repairing wrong labels."""
    codec = codec_for(declared)
    if data.isascii() and not (codec and codec.startswith(_SEVEN_BIT)):
        return data.decode("ascii")
    if codec is None:
        return guess(data)
    if codec in _SINGLE_BYTE:
        # Often a Chinese or UTF-8 client that left the label at its default.
        text, guessed, score = _best_guess(data)
        if guessed == "utf-8" or (guessed in ("gb18030", "big5hkscs") and score >= 0.6):
            return text
        return data.decode(codec, "replace")
    try:
        return data.decode(codec)
    except LookupError:
        return guess(data)
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("utf-8")  # the most common wrong label: UTF-8 text called gb2312
    except UnicodeDecodeError:
        pass
    # A few bad bytes (a character cut at the end, a corrupt byte) do not make the label wrong:
    # their share of the non-ASCII bytes decides, not their count (SPEC §3a).
    # A character cut at the very end (a truncated part) is one slip, whatever its length.
    try:
        escaped = data.decode(codec, "surrogateescape")
    except UnicodeDecodeError:  # the ISO-2022 codecs refuse this handler on a broken escape
        return guess(data)
    bad = len(_BAD_BYTE.findall(escaped.rstrip("\n")[:-3] + "\udcff"))
    if bad <= max(1, MAX_BAD_SHARE * _non_ascii(data)):
        return _BAD_BYTE.sub("\ufffd", escaped)
    return guess(data)


def _non_ascii(data: bytes) -> int:
    return len(data.translate(None, _ASCII))


def decode_header(value: str | None) -> str:
    """Decode a header value: RFC 2047 encoded words, or raw 8-bit bytes in any charset."""
    if not value:
        return ""
    if not isinstance(value, str):
        value = str(value)
    try:
        parts = email.header.decode_header(value)
    except Exception:
        parts = [(value, None)]
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            try:  # raw 8-bit header bytes arrive as surrogate escapes
                data = None if chunk.isascii() else chunk.encode("ascii", "surrogateescape")
            except UnicodeEncodeError:
                data = None  # already text
            out.append(chunk if data is None else decode(data, charset))
        else:
            out.append(decode(chunk, charset))
    text = "".join(out)
    return " ".join(text.split()) if "\n" in text or "\r" in text else text.strip()
