"""Spans of time as the admin writes them in gongdan.toml: `90m`, `24h`, `7d`, `2w`."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"\s*(\d+)\s*(m|min|h|d|w)\s*", re.I)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`90m`, `24h`, `7d` or `2w` as a timedelta; ValueError saying what is expected."""
    m = _DURATION.fullmatch(text or "")
    if not m or int(m[1]) == 0:
        raise ValueError(
            f"expected a positive number with m, h, d or w (90m, 24h, 7d), not {text!r}"
        )
    return timedelta(**{_UNITS[m[2].lower()]: int(m[1])})
