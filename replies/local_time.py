"""Times as people read them (views, replies, the digest): in the desk's zone (`[desk] timezone`),
to the minute; the zone itself is `[desk] timezone` (config.desk.tz)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


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
