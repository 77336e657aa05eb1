"""The package's data files as plain data: fields.toml (its fields as ingest.reading.field_specs
gives them) and the vendors' stop-code tables. No patterns are built here: the config check
reads these on every command, cron's every-minute poll too (issue 22);
ingest.reading.field_catalog and stopcodes build the reader's patterns from them when there is
mail to read."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

UNKNOWN_MEANING = "未知代号"


@lru_cache(maxsize=1)
def fields_toml() -> dict:
    """ingest/data/fields.toml, read once."""
    return tomllib.loads(resources.files("ingest").joinpath("data/fields.toml").read_text("utf-8"))


@dataclass(frozen=True)
class CodeEntry:
    meaning: str
    note: str = ""


@dataclass(frozen=True)
class VendorTable:
    vendor: str
    name: str
    names: tuple[str, ...]  # every way an email names this vendor
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
    name = data.get("name", data["vendor"])
    # `names` (older tables: `aliases`), the name and the vendor key all name the vendor.
    names = [*data.get("names", []), *data.get("aliases", []), name, data["vendor"]]
    return VendorTable(data["vendor"], name, tuple(dict.fromkeys(names)), codes)


@lru_cache(maxsize=8)  # parsed once a process: every mail with a stop code asks
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
