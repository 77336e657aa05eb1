"""The outbox journal: what a sending process did, appended to a file beside a SQLite database.

SQLite has one writer at a time, and while the poll stores a batch of mail it holds the write lock
for the whole batch. A process sending the outbox beside the poll therefore does not write its
markers to the database: it appends them to this journal, one line each, in one write() each
(safe against a crash of the process, like SQLite's own WAL with synchronous=NORMAL), and the
journal is applied to the database once the poll has finished writing, or, after a crash, by the
next drain before it sends anything:

    started ID ATTEMPTS TIME     written before SMTP DATA: the server may have the reply
    sent ID ATTEMPTS TIME        the server accepted it
    failed ID ATTEMPTS RETRY ERROR

Applying is idempotent: a row is only changed while its attempts are below the line's, so a
journal applied twice (a crash between the commit and the removal) changes nothing more.
"""

from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path

from sqlalchemy import bindparam, update
from sqlalchemy.engine import Connection

from ingest.models import Outbox

_OUTBOX = Outbox.__table__
_NEWER = (Outbox.id == bindparam("row_id")) & (Outbox.attempts < bindparam("tries"))
_SENT = update(_OUTBOX).where(_NEWER).values(
    state="sent", attempts=bindparam("tries"), sent_at=bindparam("at"), last_error=None, next_attempt_at=None,
    data_started_at=bindparam("at"))
_FAILED = update(_OUTBOX).where(_NEWER).values(
    state="failed", attempts=bindparam("tries"), last_error=bindparam("error"), data_started_at=None,
    next_attempt_at=bindparam("retry_at"))
_INTERRUPTED = update(_OUTBOX).where(_NEWER).values(
    state="failed", attempts=bindparam("tries"), last_error=bindparam("error"), data_started_at=bindparam("at"),
    next_attempt_at=None)


class Journal:
    """Appends records for the sending threads of one process (one line, one write)."""

    def __init__(self, path: Path):
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()

    def _append(self, *fields) -> None:
        line = " ".join(str(f) for f in fields).replace("\n", " ") + "\n"
        with self._lock:
            os.write(self._fd, line.encode("utf-8", "replace"))

    def started(self, row_id: int, attempts: int, at: datetime) -> None:
        self._append("started", row_id, attempts, at.isoformat())

    def sent(self, row_id: int, attempts: int, at: datetime) -> None:
        self._append("sent", row_id, attempts, at.isoformat())

    def failed(self, row_id: int, attempts: int, retry_at: datetime | None, error: str) -> None:
        self._append("failed", row_id, attempts, retry_at.isoformat() if retry_at else "-", error)

    def close(self) -> None:
        os.close(self._fd)


def apply_journal(conn: Connection, path: Path, interrupted: str,
                  resend_started: bool = False) -> int:
    """Write a journal's outcomes into the outbox and remove it; the rows changed.

    A reply that started but has no outcome may have reached the server: it is marked failed
    with `interrupted`, never resent automatically, unless `resend_started` (the sender
    recognises what it already delivered: the row, never claimed in the database, stays queued).
    The caller holds the outbox lock.
    """
    try:
        text = path.read_text("utf-8", "replace")
    except FileNotFoundError:
        return 0
    last: dict[int, tuple[str, dict]] = {}
    for line in text.splitlines():
        record = _parse(line)
        if record:  # else a line cut short by a crash mid-write: its reply got no further than before
            last[record[1]["row_id"]] = record
    rows: dict[str, list[dict]] = {"started": [], "sent": [], "failed": []}
    for kind, params in last.values():
        if kind == "started" and resend_started:
            continue
        rows[kind].append({**params, "error": interrupted} if kind == "started" else params)
    changed = 0
    for kind, statement in (("sent", _SENT), ("failed", _FAILED), ("started", _INTERRUPTED)):
        if rows[kind]:
            changed += conn.execute(statement, rows[kind]).rowcount
    conn.commit()
    path.unlink(missing_ok=True)
    return changed


def _parse(line: str) -> tuple[str, dict] | None:
    parts = line.split(" ", 4)
    try:
        kind, row_id, tries, when = parts[0], int(parts[1]), int(parts[2]), parts[3]
        if kind == "failed":
            return kind, {"row_id": row_id, "tries": tries, "error": (parts[4] if len(parts) > 4 else "")[:500],
                          "retry_at": None if when == "-" else datetime.fromisoformat(when)}
        if kind in ("started", "sent"):
            return kind, {"row_id": row_id, "tries": tries, "at": datetime.fromisoformat(when)}
    except (IndexError, ValueError):
        pass
    return None
