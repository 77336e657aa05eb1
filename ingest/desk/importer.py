"""Backfill: load .eml files, mbox files and Maildirs into the database, in batches."""

from __future__ import annotations

import gc
import itertools
import mailbox
import re
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from ingest.config import Config
from ingest.sources import batches
from ingest.sources.read_ahead import ReadAhead, worth_it
from ingest.store import db
from ingest.store.db import Engine
from ingest.store.tickets import store_many

BATCH = 100  # emails per transaction: an import can be rerun, so a lost batch costs nothing
# Emails stored when PostgreSQL's statistics are refreshed. Early, so that threading and the
# duplicate check use their indexes from the third batch on: until then the planner takes the
# fresh tables for empty, and the plans it caches for the import's prepared statements scan them
# (a 2,000-mail import read 3.8 M ticket rows in 3,798 scans; with the refresh at 200, 38,000
# in 396). At 100 rows a scan is still the better plan, and it stays cached. Then once more
# with the tables' size better known; autovacuum takes over from there.
ANALYZE_AT = (200, 2_000)


# Files that sit beside mail in a folder but are not mail.
_NOT_MAIL = {".json", ".md", ".py", ".toml", ".txt", ".html", ".csv", ".log"}


def _natural(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _is_mbox(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(5) == b"From "


def sources(paths: list[str]) -> Iterator[tuple[str, Callable[[], bytes]]]:
    """(name, reader) for every email under `paths`, in name order within each folder."""
    for given in paths:
        path = Path(given)
        if path.is_dir() and _is_maildir(path):
            box = mailbox.Maildir(path, factory=None, create=False)
            for key in sorted(box.iterkeys(), key=_natural):  # Maildir names start with the time
                yield f"{path}:{key}", (lambda k=key, b=box: b.get_bytes(k))
        elif path.is_dir():
            children = sorted(path.iterdir(), key=lambda p: _natural(p.name))
            yield from sources(
                [
                    str(c)
                    for c in children
                    if not c.name.startswith(".") and c.suffix.lower() not in _NOT_MAIL
                ]
            )
        elif path.is_file() and _is_mbox(path):
            box = mailbox.mbox(path, factory=None, create=False)
            for key in box.iterkeys():
                yield f"{path}:{key}", (lambda k=key, b=box: b.get_bytes(k))
        elif path.is_file():
            yield str(path), path.read_bytes
        else:
            raise FileNotFoundError(f"no such file or folder: {given}")


def import_paths(
    engine: Engine,
    paths: list[str],
    config: Config,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> Counter:
    """Store every email under `paths`, arrived `now`; a Counter of outcomes (new_ticket,
    follow_up, ...). The sources are read as they are stored: memory stays flat in their number."""
    for given in paths:  # a mistyped path is said before anything is stored
        if not Path(given).exists():
            raise FileNotFoundError(f"no such file or folder: {given}")
    found = sources(paths)
    first = list(itertools.islice(found, BATCH + 1))  # enough to know whether a helper pays
    # Everything loaded so far (modules, mappers, compiled statements) lives for the whole run;
    # leaving it out of the collector's scans makes a long backfill measurably faster.
    gc.freeze()
    counts: Counter = Counter()

    def store(raws: list[bytes], readings) -> None:
        for stored in store_many(
            session, [(raw, {"mailbox": "import"}) for raw in raws], config, readings(), now=now
        ):
            counts[stored.outcome] += 1
        session.expunge_all()  # keep memory flat over a long backfill
        before, counts["total"] = counts["total"], counts["total"] + len(raws)
        if any(before < at <= counts["total"] for at in ANALYZE_AT):
            db.analyze(session.connection())  # the planner learns the tables' size
            session.commit()
        if progress:
            progress(len(raws))

    # As in a poll: the next batch is read in a helper process while this one is stored.
    parallel = config.desk.parallel and worth_it(len(first), BATCH)
    # Cut by bytes as well as count, as a poll does: a batch is in memory whole.
    raws_found = (read() for _, read in itertools.chain(first, found))
    raw_batches = batches.cut(raws_found, len, BATCH)
    with db.session(engine) as session, ReadAhead(config.desk, parallel) as reader:
        for raws, readings in reader.in_order((raws, raws) for raws in raw_batches):
            store(raws, readings)
    return counts
