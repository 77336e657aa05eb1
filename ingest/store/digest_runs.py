"""The digests sent: the period each covered, so the next one starts where the last ended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, insert, select
from sqlmodel import Session

from ingest.store.models import Digest, as_utc


def last_period_end(session: Session) -> datetime | None:
    end = session.connection().execute(select(func.max(Digest.period_end))).scalar_one_or_none()
    return as_utc(end) if end else None


def record_period(session: Session, start: datetime, end: datetime, now: datetime) -> int:
    """The period a digest covered, recorded at `now` in the caller's transaction."""
    return (
        session.connection()
        .execute(
            insert(Digest.__table__).returning(Digest.__table__.c.id),
            {"period_start": start, "period_end": end, "created_at": now},
        )
        .scalar_one()
    )
