"""Times as people read them (views, replies, the digest): in the desk's zone (`[desk] timezone`),
to the minute."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "Asia/Shanghai"


@lru_cache(maxsize=8)
def zone(name: str = DEFAULT_ZONE) -> tzinfo:
    """The zone called `name` (IANA, such as Asia/Shanghai); ValueError when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)"
        ) from exc


def _moment(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # the database keeps UTC


def local_minute(value: datetime | str | None, tz: tzinfo) -> str:
    """`2026-12-06 00:48`: a stored time (naive = UTC, or ISO text) in `tz`; "" for none."""
    if value in (None, ""):
        return ""
    return _moment(value).astimezone(tz).strftime("%Y-%m-%d %H:%M")


def local_day(value: datetime | str, tz: tzinfo) -> str:
    return _moment(value).astimezone(tz).strftime("%Y-%m-%d")
