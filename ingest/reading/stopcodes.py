"""Charger stop-reason codes: vendor tables (TOML data files) and finding codes in mail text."""

from __future__ import annotations

import bisect
import re
import tomllib
from functools import lru_cache
from importlib import resources

# The tables themselves are plain data (data_files, which the config check reads); here too for
# the modules that read stop codes.
from ingest.reading.data_files import UNKNOWN_MEANING as UNKNOWN_MEANING
from ingest.reading.data_files import CodeEntry as CodeEntry
from ingest.reading.data_files import VendorTable as VendorTable
from ingest.reading.data_files import load_table as load_table
from ingest.reading.data_files import vendors as vendors
from ingest.reading.hant import alternation
from ingest.reading.values import SPACE

# A trigger, then optionally 代号/代码/码/编号 (`停止原因代号为47`), 为/是 and a colon; never a
# line break (a number on the next line is not read). Chinese words match in their traditional
# forms too (停止原因代號為47; SPEC §3a).
_TRIGGER_WORDS = (
    "桩端停止代号",
    "停止原因",
    "停止代号",
    "停止代码",
    "停止码",
    "停机原因",
    "停机代码",
    "停机码",
)
_TRIGGER_SUFFIXES = ("代号", "代码", "码", "编号")


@lru_cache(maxsize=1)
def trigger() -> re.Pattern:
    """The trigger phrase, built on first use (its traditional forms come from hant)."""
    space = f"{SPACE}*"
    return re.compile(
        rf"(?:{alternation(_TRIGGER_WORDS)}|stop[ \t]*code|stop[ \t]*reason)"
        rf"{space}(?:{alternation(_TRIGGER_SUFFIXES)})?{space}(?:{alternation(('为', '是'))})?"
        rf"{space}[:：]?{space}",
        re.I,
    )


def bare_trigger(text: str) -> bool:
    """A table cell holding only a trigger (`停止原因`, `停机码：`): it takes the number in the
    next cell (SPEC §3b)."""
    return len(text) <= 30 and bool(trigger().fullmatch(text.strip()))


# A code: 1-4 digits that are not part of a longer number, a decimal, or a pile/gun/amount.
_CODE = (
    r"(\d{1,4})(?![\d０-９]|\.\d|"
    r"[ \t]*(?:号桩|号枪|桩|枪|元|度|次|个|%|kw|小时|分钟|秒|年|月|日|点))"
)
_FIRST = re.compile(_CODE, re.I)
_NEXT = re.compile(rf"{SPACE}*(?:、|,|，|/|和|{SPACE}){SPACE}*" + _CODE, re.I)


@lru_cache(maxsize=1)
def vendor_names() -> dict[str, str]:
    """{vendor key: its name in the shipped stop-code tables}, such as sinexcel: 盛弘."""
    return {key: table.name for key, table in vendors().items()}


@lru_cache(maxsize=1)
def brands_without_table() -> dict[str, tuple[str, ...]]:
    """The shipped list of charger brands we have no table for: name -> every way it is written."""
    text = resources.files("ingest").joinpath("data/charger_brands.toml").read_text("utf-8")
    return {
        b["name"]: tuple(b.get("names", [])) or (b["name"],) for b in tomllib.loads(text)["brand"]
    }


@lru_cache(maxsize=8)
def _brand_finder(extra_dir: str | None) -> tuple[re.Pattern, dict[str, str]]:
    """A pattern for every brand name, and which vendor (a table's key, or a brand without a
    table by its name) each lower-cased name stands for. A table wins over the list."""
    owner: dict[str, str] = {}
    for name, written in brands_without_table().items():
        for word in written:
            owner[word.lower()] = name
    for table in vendors(extra_dir).values():
        for word in table.names:
            owner[word.lower()] = table.vendor
    words = sorted(owner, key=len, reverse=True)
    # A Latin name counts only as a whole word (ABB, not "abbreviation").
    alternatives = [
        rf"(?<![a-z]){re.escape(w)}(?![a-z])" if w.isascii() else re.escape(w) for w in words
    ]
    return re.compile("|".join(alternatives), re.I), owner


def _found(text: str) -> list[tuple[int, int]]:
    """(code, where it is written) after each trigger phrase, in order of appearance."""
    found = []
    for phrase in trigger().finditer(text):
        match = _FIRST.match(text, phrase.end())
        while match:
            found.append((int(match.group(1)), match.start(1)))
            match = _NEXT.match(text, match.end())
    return found


def find_codes(text: str) -> list[int]:
    """Codes right after a trigger phrase (停止原因：34、2), each once, in order of appearance."""
    return list(dict.fromkeys(code for code, _ in _found(text)))


def decode_codes(codes: list[int], vendor: str, tables: dict[str, VendorTable]) -> list[dict]:
    table = tables.get(vendor)
    if table is None:
        return [
            {"vendor": vendor, "code": c, "meaning": UNKNOWN_MEANING, "known": False} for c in codes
        ]
    return [table.lookup(c) for c in codes]


def _brand_at(text: str, finder: re.Pattern, owner: dict[str, str]):
    """A function giving the brand named on the line of a position: the nearest before it, else
    the first after it. Only lines that hold a code are searched, each once."""
    newlines = [m.start() for m in re.finditer("\n", text)]
    lines: dict[int, list[tuple[int, str]]] = {}

    def brand(at: int) -> str | None:
        line = bisect.bisect_left(newlines, at)
        if line not in lines:
            start = newlines[line - 1] + 1 if line else 0
            end = newlines[line] if line < len(newlines) else len(text)
            found = finder.finditer(text, start, end)
            lines[line] = [(m.start(), owner[m.group(0).lower()]) for m in found]
        named = lines[line]
        before = [vendor for start, vendor in named if start < at]
        return before[-1] if before else (named[0][1] if named else None)

    return brand


def stop_codes_in(
    text: str,
    default_vendor: str = "sinexcel",
    extra_dir: str | None = None,
    description: str = "",
) -> list[dict]:
    """Find and decode every stop code in `text` (the subject its first line), each once.

    The brand named on a code's own line decides its table, else the first brand named in
    `description`, else `default_vendor`; a brand with no table gives `meaning: None` (SPEC §5).
    """
    found = _found(text)
    if not found:
        return []
    tables = vendors(extra_dir)
    finder, owner = _brand_finder(extra_dir)
    named = finder.search(description) if description else None
    fallback = owner[named.group(0).lower()] if named else default_vendor
    brand_at = _brand_at(text, finder, owner)
    hits: dict[tuple[str, int], dict] = {}
    for code, at in found:
        vendor = brand_at(at) or fallback
        if (vendor, code) in hits:
            continue
        if vendor in tables or vendor not in brands_without_table():
            hits[(vendor, code)] = decode_codes([code], vendor, tables)[0]
        else:
            hits[(vendor, code)] = {"vendor": vendor, "code": code, "meaning": None, "known": False}
    return list(hits.values())
