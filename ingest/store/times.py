"""Stored times: aware UTC, and when a mail was sent (no SQLAlchemy here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def as_utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken as UTC (what SQLite gives back)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


EARLIEST_MAIL = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)


def mail_time(date: datetime | None, arrived: datetime) -> datetime:
    """When a mail was sent: its Date header when plausible (an aware time, not before 2000, not
    more than a day of clock skew after it arrived), else when it arrived."""
    if date is None or date.tzinfo is None:
        return arrived
    return date if EARLIEST_MAIL <= date <= arrived + CLOCK_SKEW else arrived


def iso(value: datetime | None) -> str | None:
    """A stored time as JSON shows it."""
    return value.isoformat() if value else None
