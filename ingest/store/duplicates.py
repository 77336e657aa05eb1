"""Which emails are stored already: by their bytes, or by Message-ID and sender (SPEC §6a)."""

from __future__ import annotations

import hashlib

from sqlalchemy import and_, bindparam, or_
from sqlmodel import Session, select

from ingest.reading.ticket import TicketReading
from ingest.store.db import PARAMETERS, chunks
from ingest.store.models import Message

# Prepared once: building a statement per email costs more than running it.
# `!= ''` lets the database use the partial unique index on message_id.
_COPIES = select(Message.id, Message.raw_sha256, Message.message_id, Message.from_address).where(
    or_(
        Message.raw_sha256.in_(bindparam("shas", expanding=True)),
        and_(Message.message_id.in_(bindparam("ids", expanding=True)), Message.message_id != ""),
    )
)


def remember(known: dict, row_id: int, sha: str, message_id: str, sender: str) -> None:
    """Note a stored email in `known`: by its bytes, by Message-ID and sender (a duplicate), and
    by Message-ID alone (a later mail from someone else that reuses it is flagged)."""
    known[sha] = row_id
    if message_id:
        known[(message_id, sender)] = row_id
        known.setdefault(message_id, row_id)


def find_duplicate(session: Session, message_id: str, sha: str, sender: str = "") -> int | None:
    """The stored copy of an email: the same bytes, or the same Message-ID from the same sender."""
    known: dict = {}
    for row in session.connection().execute(_COPIES, {"shas": [sha], "ids": [message_id or ""]}):
        remember(known, *row)
    return known.get(sha) or (known.get((message_id, sender)) if message_id else None)


def stored_copies(
    session: Session, raws: list[bytes], readings: list[TicketReading | None]
) -> dict:
    """The rows already holding any of these emails (see remember): one query a batch (more for a
    batch too large for one bounded statement)."""
    shas = chunks([hashlib.sha256(raw).hexdigest() for raw in raws], PARAMETERS // 2)
    ids = chunks(
        [r.mail.message_id for r in readings if r is not None and r.mail.message_id],
        PARAMETERS // 2,
    )
    known: dict = {}
    for n in range(max(len(shas), len(ids))):
        params = {"shas": _nth(shas, n), "ids": _nth(ids, n) or [""]}
        for row in session.connection().execute(_COPIES, params):
            remember(known, *row)
    return known


def _nth(parts: list[list], n: int) -> list:
    return parts[n] if n < len(parts) else []
