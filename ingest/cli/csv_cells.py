"""Every CSV the product writes: cells a spreadsheet would run as formulas are defused."""

from __future__ import annotations

import csv
import io
import re

# What Excel and LibreOffice read as the start of a formula (or a DDE call) in a text cell.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def safe_cell(value):
    """`value` as a spreadsheet may show it: a text cell starting like a formula gets a leading
    `'` (shown as text, never run); numbers, and text that is only a number, stay as they are."""
    if not isinstance(value, str) or not value.startswith(_FORMULA_START):
        return value
    if _NUMBER.fullmatch(value):
        return value
    return "'" + value


def csv_text(rows: list[dict], fieldnames: list[str]) -> str:
    """`rows` as CSV with a header row, every cell through safe_cell."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fieldnames)
    writer.writeheader()
    writer.writerows({k: safe_cell(v) for k, v in row.items()} for row in rows)
    return out.getvalue()
