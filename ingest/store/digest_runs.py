"""The digests sent: the period each covered, so the next one starts where the last ended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.engine import Connection

from ingest.store.tables import digest as _DIGEST
from ingest.store.times import as_utc


def last_period_end(conn: Connection) -> datetime | None:
    end = conn.execute(select(func.max(_DIGEST.c.period_end))).scalar_one_or_none()
    return as_utc(end) if end else None


def record_period(conn: Connection, start: datetime, end: datetime, now: datetime) -> int:
    """The period a digest covered, recorded at `now` in the transaction open on `conn`."""
    return conn.execute(
        insert(_DIGEST).returning(_DIGEST.c.id),
        {"period_start": start, "period_end": end, "created_at": now},
    ).scalar_one()
