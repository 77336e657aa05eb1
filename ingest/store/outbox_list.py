"""The outbox's replies as `gongdan outbox list` (and the demo) list them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ingest.store.models import Outbox


def outbox_rows(conn: Connection, states: tuple[str, ...] | None = None) -> list:
    """The outbox's rows in the order they were queued (only those in `states`, when given)."""
    query = select(Outbox).order_by(Outbox.id)
    if states is not None:
        query = query.where(Outbox.state.in_(states))
    return conn.execute(query).all()
