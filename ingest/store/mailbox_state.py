"""What the database remembers of each mailbox: the last UID stored, its UIDVALIDITY, the last
success or error of a poll (and of the outbox's last drain, under its own name). SQLAlchemy Core
on ingest.store.tables: a poll with no mail comes here and nowhere near the ORM (issue 22)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ingest.store import db
from ingest.store.tables import mailbox_state as _STATE
from ingest.store.tables import message as _MESSAGE

if TYPE_CHECKING:
    from sqlmodel import Session

log = logging.getLogger("gongdan.poll")

_ADVANCE = (
    update(_STATE)
    .where(_STATE.c.name == bindparam("box"), _STATE.c.last_uid < bindparam("uid"))
    .values(last_uid=bindparam("uid"))
)


class State(NamedTuple):
    uidvalidity: int | None
    last_uid: int


def state_of(engine: Engine, name: str) -> State:
    """Where the mailbox's mail was stored up to; its row is made at its first poll."""
    with engine.begin() as conn:
        row = conn.execute(
            select(_STATE.c.uidvalidity, _STATE.c.last_uid).where(_STATE.c.name == name)
        ).first()
        if row is None:
            conn.execute(insert(_STATE).values(name=name, last_uid=0))
            return State(None, 0)
    return State(*row)


def restart(engine: Engine, name: str, uidvalidity: int | None) -> State:
    """The mailbox has a new UIDVALIDITY: its mail is read again from the first UID."""
    with engine.begin() as conn:
        conn.execute(
            update(_STATE).where(_STATE.c.name == name).values(uidvalidity=uidvalidity, last_uid=0)
        )
    return State(uidvalidity, 0)


def advance(session: Session, name: str, uid: int | None) -> None:
    """Mail up to `uid` is stored (in the open transaction)."""
    if uid is not None:
        session.connection().execute(_ADVANCE, {"box": name, "uid": uid})


def remember(engine: Engine, name: str, error: str | None, now: datetime) -> None:
    """Remember how the last cycle of `name` ended at `now`: success, or its one error."""
    values = (
        {"last_success_at": now}
        if error is None
        else {"last_error": error[:1000], "last_error_at": now}
    )
    with engine.begin() as conn:
        if not conn.execute(update(_STATE).where(_STATE.c.name == name).values(**values)).rowcount:
            conn.execute(insert(_STATE).values(name=name, last_uid=0, **values))


def record(engine: Engine, name: str, error: str | None, now: datetime) -> None:
    """Remember the last success or error of a mailbox, for `gongdan status`."""
    try:
        remember(engine, name, error, now)
    except SQLAlchemyError:
        log.exception("cannot record the state of mailbox %s", name)


def unreadable_uids(
    engine: Engine, name: str, uidvalidity: int | None, uids: list[int]
) -> set[int]:
    """Which of these stored UIDs were stored as unreadable."""
    query = select(_MESSAGE.c.uid).where(
        _MESSAGE.c.mailbox == name,
        _MESSAGE.c.uidvalidity == uidvalidity,
        _MESSAGE.c.parse_error.is_not(None),
    )
    with engine.connect() as conn:
        return {uid for (uid,) in db.rows_in(conn, query, _MESSAGE.c.uid, uids)}
