"""Mutual exclusion for cron runs: a file lock beside a SQLite database, an advisory lock on PostgreSQL."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import Engine


def _key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"gongdan:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive(engine: Engine, name: str) -> Iterator[bool]:
    """Hold the lock called `name` while the block runs; yields False when someone else holds it.

    Both kinds die with their process, so a killed run never leaves a stale lock behind.
    """
    if engine.dialect.name == "postgresql":
        # Advisory locks are per connection: workers on several machines share one database.
        with engine.connect() as conn:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(name)}).scalar())
            conn.commit()
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(name)})
                    conn.commit()
        return
    database = engine.url.database or ""
    folder = Path(database).resolve().parent if database and database != ":memory:" else Path.cwd()
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
    path = folder / f".{Path(database).name or 'gongdan'}.{safe}.lock"
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            got = True
        except BlockingIOError:
            got = False
        try:
            yield got
        finally:
            if got:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
