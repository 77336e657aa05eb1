"""Text safe to store and to print: no NUL, no control, bidi or invisible characters, no escapes.

Mail is written by strangers. A value that carries `ESC ] 52;c;… BEL` writes to the clipboard of
whoever runs `gongdan tickets show`, `ESC [2J` clears their screen, U+202E turns a number around,
and NUL is text PostgreSQL cannot hold. Every text value is cleaned once, when an email is read
(SPEC §3a), and once more where it is printed or mailed, for rows stored before this existed.
Zero-width characters (U+200B, U+200C, U+200D, U+2060, U+FEFF) go too: Outlook writes
`订&#8203;单号`, and a label split by one would not be read (SPEC §3b).
"""

from __future__ import annotations

import json
import re

# Escape sequences go whole, so that no `]52;c;…` or `[2J` is left behind as text: CSI
# (`ESC [` or 8-bit 0x9B, parameters, intermediates, final byte); the string sequences OSC, DCS,
# SOS, PM and APC up to BEL or ST (or the line's end, when unterminated); any other `ESC x`.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c\n]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
)
# C0 controls but tab and newline, DEL and C1, bidi controls, invisible characters (SPEC §3b),
# and lone surrogates (bytes that could not be decoded; neither UTF-8 nor PostgreSQL holds them).
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"
_UNSAFE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
    f"{INVISIBLE}]"
)
# drop_invisible also takes U+FDD0, html_text's mark of a table unit's end, which no mail may
# bring (clean_text keeps it: it runs after that mark is made).
_INVISIBLE = re.compile(f"[{INVISIBLE}\ufdd0]")


def clean_text(text: str) -> str:
    """`text` without controls (tab and newline stay), bidi controls or terminal escapes."""
    if not text or not _UNSAFE.search(text):
        return text  # the common case: one scan, no copy
    return _UNSAFE.sub("", _SEQUENCE.sub("", text))


def drop_invisible(text: str) -> str:
    """`text` without zero-width characters, so that labels split by one are read (SPEC §3b)."""
    return _INVISIBLE.sub("", text) if _INVISIBLE.search(text) else text


def clean_data(value):
    """clean_text over every string inside `value` (dicts, lists, tuples), keys included."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_data(k): clean_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(clean_data(v) for v in value)
    return value


# How json.dumps writes the C0 controls clean_text takes (all but tab and newline): \u0000 to
# \u001f, or \b, \f and \r. Every other character clean_text takes it writes as itself.
_JSON_CONTROL = re.compile(r"\\u00[01]|\\[bfr]")


def clean_json(value) -> str:
    """json.dumps(clean_data(value), ensure_ascii=False), without walking `value` when its JSON
    text shows nothing to clean: the common case (walking it was a quarter of an export)."""
    line = json.dumps(value, ensure_ascii=False)
    if _UNSAFE.search(line) or _JSON_CONTROL.search(line):
        return json.dumps(clean_data(value), ensure_ascii=False)
    return line
