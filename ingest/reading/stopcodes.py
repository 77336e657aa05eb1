"""Charger stop-reason codes: vendor tables (TOML data files) and finding codes in mail text."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

UNKNOWN_MEANING = "未知代号"

_TRIGGER = re.compile(
    r"(?:桩端停止代号|停止原因|停止代号|停止代码|停止码|停机原因|stop[ \t]*code|stop[ \t]*reason)"
    r"[ \t\u3000]*(?:为|是)?[ \t\u3000]*[:：]?[ \t\u3000]*",
    re.I,
)
# A code: 1-4 digits that are not part of a longer number, a decimal, or a pile/gun/amount.
_CODE = (
    r"(\d{1,4})(?![\d０-９]|\.\d|"
    r"[ \t]*(?:号桩|号枪|桩|枪|元|度|次|个|%|kw|小时|分钟|秒|年|月|日|点))"
)
_FIRST = re.compile(_CODE, re.I)
_NEXT = re.compile(r"[ \t\u3000]*(?:、|,|，|/|和|[ \t\u3000])[ \t\u3000]*" + _CODE, re.I)


@dataclass(frozen=True)
class CodeEntry:
    meaning: str
    note: str = ""


@dataclass(frozen=True)
class VendorTable:
    vendor: str
    name: str
    aliases: tuple[str, ...]
    codes: dict  # int -> CodeEntry

    def lookup(self, code: int) -> dict:
        entry = self.codes.get(code)
        return {
            "vendor": self.vendor,
            "code": code,
            "meaning": entry.meaning if entry else UNKNOWN_MEANING,
            "known": entry is not None,
        }


def load_table(text: str) -> VendorTable:
    data = tomllib.loads(text)
    codes: dict[int, CodeEntry] = {}
    for row in data.get("code", []):
        entry = CodeEntry(row["meaning"], row.get("note", ""))
        numbers = list(row.get("codes", []))
        if "from" in row:
            numbers += range(row["from"], row["to"] + 1)
        for number in numbers:
            codes[int(number)] = entry
    return VendorTable(
        data["vendor"], data.get("name", data["vendor"]), tuple(data.get("aliases", [])), codes
    )


@lru_cache(maxsize=8)
def vendors(extra_dir: str | None = None) -> dict[str, VendorTable]:
    """Every vendor table shipped in the package, plus those in `extra_dir` (which win)."""
    tables = {}
    shipped = resources.files("ingest").joinpath("data/stopcodes")
    files = [f for f in shipped.iterdir() if f.name.endswith(".toml")]
    if extra_dir:
        files += sorted(Path(extra_dir).glob("*.toml"))
    for f in files:
        table = load_table(f.read_text("utf-8"))
        tables[table.vendor] = table
    return tables


def find_codes(text: str) -> list[int]:
    """Codes right after a trigger phrase (停止原因：34、2), each once, in order of appearance."""
    found: list[int] = []
    for trigger in _TRIGGER.finditer(text):
        match = _FIRST.match(text, trigger.end())
        while match:
            code = int(match.group(1))
            if code not in found:
                found.append(code)
            match = _NEXT.match(text, match.end())
    return found


def name_vendor(text: str, default: str, tables: dict[str, VendorTable]) -> str:
    """The vendor named first in `text`, else `default`."""
    lowered = text.lower()
    best, best_at = default, len(text) + 1
    for table in tables.values():
        for alias in (table.name, table.vendor, *table.aliases):
            at = lowered.find(alias.lower())
            if 0 <= at < best_at:
                best, best_at = table.vendor, at
    return best


def decode_codes(codes: list[int], vendor: str, tables: dict[str, VendorTable]) -> list[dict]:
    table = tables.get(vendor)
    if table is None:
        return [
            {"vendor": vendor, "code": c, "meaning": UNKNOWN_MEANING, "known": False} for c in codes
        ]
    return [table.lookup(c) for c in codes]


def stop_codes_in(
    text: str, default_vendor: str = "sinexcel", extra_dir: str | None = None
) -> list[dict]:
    """Find and decode every stop code in `text`."""
    codes = find_codes(text)
    if not codes:
        return []
    tables = vendors(extra_dir)
    return decode_codes(codes, name_vendor(text, default_vendor, tables), tables)
