"""Spans of time as people write them, in gongdan.toml and in options: `90min`, `24h`, `7d`,
`2w`, `1mo`. A bare `m` is refused: it reads as a minute to some and a month to others."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"\s*(\d+)\s*(min|mo|m|h|d|w)\s*", re.I)
# A month as a span is 30 days; a calendar month is `gongdan stats --month 2026-11`.
_UNITS = {"min": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_UNITS |= {"w": timedelta(weeks=1), "mo": timedelta(days=30)}
EXPECTED = "a positive number with min, h, d, w or mo (90min, 24h, 7d, 2w, 1mo)"


def parse_duration(text: str) -> timedelta:
    """`90min`, `24h`, `7d`, `2w` or `1mo` (30 days) as a timedelta; ValueError saying what is
    expected (`1m` is ambiguous: it asks for `1min` or `1mo`)."""
    m = _DURATION.fullmatch(text or "")
    if m and m[2].lower() == "m":
        raise ValueError(
            f"{text.strip()!r} is ambiguous: write {m[1]}min for minutes or {m[1]}mo for months"
        )
    if not m or int(m[1]) == 0:
        raise ValueError(f"expected {EXPECTED}, not {text!r}")
    return int(m[1]) * _UNITS[m[2].lower()]
