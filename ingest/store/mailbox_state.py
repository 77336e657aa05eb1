"""What the database remembers of each mailbox: the last UID stored, its UIDVALIDITY, the last
success or error of a poll."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from ingest.store import db
from ingest.store.models import MailboxState, Message

log = logging.getLogger("gongdan.poll")

_ADVANCE = (
    update(MailboxState.__table__)
    .where(MailboxState.name == bindparam("box"), MailboxState.last_uid < bindparam("uid"))
    .values(last_uid=bindparam("uid"))
)


def state_of(session: Session, name: str) -> MailboxState:
    return session.get(MailboxState, name) or MailboxState(name=name)


def advance(session: Session, name: str, uid: int | None) -> None:
    """Mail up to `uid` is stored (in the open transaction)."""
    if uid is not None:
        session.connection().execute(_ADVANCE, {"box": name, "uid": uid})


def record(engine: Engine, name: str, error: str | None, now: datetime) -> None:
    """Remember the last success or error of a mailbox, for `gongdan status`."""
    try:
        with db.session(engine) as session:
            state = state_of(session, name)
            if error is None:
                state.last_success_at = now
            else:
                state.last_error, state.last_error_at = error[:1000], now
            session.add(state)
            session.commit()
    except SQLAlchemyError:
        log.exception("cannot record the state of mailbox %s", name)


def unreadable_uids(
    session: Session, name: str, uidvalidity: int | None, uids: list[int]
) -> set[int]:
    """Which of these stored UIDs were stored as unreadable."""
    found: set[int] = set()
    for part in db.chunks(uids):
        if part:
            rows = session.connection().execute(
                select(Message.uid).where(
                    Message.mailbox == name,
                    Message.uidvalidity == uidvalidity,
                    Message.uid.in_(part),
                    Message.parse_error.is_not(None),
                )
            )
            found.update(uid for (uid,) in rows)
    return found
