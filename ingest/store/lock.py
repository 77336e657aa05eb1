"""Mutual exclusion for cron runs: a file lock beside SQLite, an advisory lock on PostgreSQL."""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text
from sqlalchemy.engine import Engine

from ingest.store.db import beside_database


def _key(name: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"gongdan:{name}".encode()).digest()[:8], "big", signed=True
    )


def _retry(attempt, wait: float) -> bool:
    """Call `attempt` until it succeeds or `wait` seconds have passed."""
    deadline = time.monotonic() + wait
    while True:
        if attempt():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


@contextmanager
def exclusive(engine: Engine, name: str, wait: float = 0.0) -> Iterator[bool]:
    """Hold the lock called `name` while the block runs; yields False when someone else holds it
    (after waiting up to `wait` seconds for it).

    Both kinds die with their process, so a killed run never leaves a stale lock behind.
    """
    if engine.dialect.name == "postgresql":
        # Advisory locks are per connection: workers on several machines share one database.
        with engine.connect() as conn:

            def attempt() -> bool:
                got = bool(
                    conn.execute(
                        text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(name)}
                    ).scalar()
                )
                conn.commit()
                return got

            got = _retry(attempt, wait)
            try:
                yield got
            finally:
                if got:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _key(name)})
                    conn.commit()
        return
    path = beside_database(engine, re.sub(r"[^A-Za-z0-9_.-]", "_", name) + ".lock")
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:

        def attempt() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

        got = _retry(attempt, wait)
        try:
            yield got
        finally:
            if got:
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
