"""The sending stage: hand every due reply in the outbox to the mail server and record each send.

send_due() is the one way replies go out: `gongdan poll` runs it at the end of its cycle, the
digest after queueing itself, and `gongdan send` on its own. The outbox lock keeps two senders
apart. Delivery is at least once (SPEC §9): the sent mark is committed as soon as the server
accepts a reply, so a run killed while handing one over leaves it `sending`, and the next drain
sends it again, the same message with the same Message-ID. That window is one reply per SMTP
connection.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from ingest.config import Config
from ingest.store import outbox
from ingest.store.db import Connection, Engine
from ingest.store.lock import exclusive
from replies.sending import DeliveryError, make_sender

log = logging.getLogger("gongdan.outbox")

OUTBOX_WAIT = 60.0  # seconds the poll and the digest wait for another run that is sending
MAX_ATTEMPTS = 20

Deliver = Callable[[bytes, list[str]], None]  # deliver(raw, recipients), raises DeliveryError


def send_due(
    config: Config,
    engine: Engine,
    now: datetime,
    wait: float = 0.0,
    stop: Callable[[], bool] | None = None,
) -> DrainReport | None:
    """Send every due reply, over `[outgoing] connections` SMTP connections (a Maildir: one).

    None when another run holds the outbox (after waiting up to `wait` seconds for it): that run
    sends them. `stop()` true: each connection finishes the reply in hand and takes no other.
    `now` is the cycle's time: what is due, and when each reply is marked sent or retried. How
    the drain ended is recorded for `gongdan status`.
    """
    with exclusive(engine, "outbox", wait=wait) as got:
        if not got:
            return None
        count = config.outgoing.connections if config.outgoing.kind == "smtp" else 1
        try:
            senders = [make_sender(config.outgoing) for _ in range(count)]
        except DeliveryError as exc:  # refused before sending anything: the replies stay queued
            log.error("outbox: %s; replies stay queued until this is fixed", exc)
            report = DrainReport(errors=[str(exc)], error=str(exc))
        else:
            try:
                report = drain(engine, senders, now, stop=stop)
            finally:
                for sender in senders:
                    sender.close()
        outbox.record_drain(engine, report.error, now)
        return report


@dataclass
class DrainReport:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # one line per reply not sent, and `error`
    error: str | None = None  # the outbox could not send at all (DeliveryError.unreachable/held)


@dataclass
class _Run:
    """What the sending threads of one drain share."""

    report: DrainReport
    writing: contextlib.AbstractContextManager  # one writer at a time on SQLite
    asked_to_stop: Callable[[], bool]
    now: datetime  # the cycle's time: replies are marked sent or retried as of it
    tally: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)  # no thread takes another reply
    errors: list[BaseException] = field(default_factory=list)
    probed: bool = False  # the drain's first reply has been tried alone

    def write(self, conn: Connection, mark: Callable, *args) -> None:
        """Record one outcome (an outbox.mark_* with its arguments) and commit it before the
        thread goes on."""
        with self.writing:
            mark(conn, *args)
            conn.commit()


def drain(
    engine: Engine,
    senders: Sequence[Deliver],
    now: datetime,
    limit: int = 100,
    stop: Callable[[], bool] | None = None,
) -> DrainReport:
    """Hand every due reply to one of `senders`, each on its own thread and database connection;
    each reply goes to exactly one of them. The caller holds the outbox lock."""
    # SQLite has one writer: a lock of ours instead of its busy handler's sleeps between threads.
    writing = threading.Lock() if engine.dialect.name == "sqlite" else contextlib.nullcontext()
    run = _Run(DrainReport(), writing, stop or (lambda: False), now)
    with engine.connect() as conn:
        outbox.recover_interrupted(conn)
        last = 0
        while True:  # in pages, so a long queue never sits in memory at once
            ids = _send_page(engine, conn, run, senders, last, limit)
            if not ids:
                break
            if run.errors:
                raise run.errors[0]  # the rows still `sending` are left to recover_interrupted
            if run.stop.is_set():
                # No point in trying the rest now (each would wait for its own time-out).
                run.write(conn, outbox.unclaim, ids)
                break
            last = ids[-1]
    return run.report


def _send_page(
    engine: Engine,
    conn: Connection,
    run: _Run,
    senders: Sequence[Deliver],
    after_id: int,
    limit: int,
) -> list[int]:
    """Claim the next `limit` due replies after `after_id` and deliver them with every sender at
    once, until done or the server is unreachable; returns the ids claimed (none: nothing due)."""
    due = outbox.due_page(conn, after_id, run.now, limit)
    ids = [row.id for row in due]
    if not ids:
        return ids
    outbox.claim(conn, ids, run.now)
    todo = queue.SimpleQueue()
    for row in due:
        todo.put(row)

    def work(deliver: Deliver, most: int | None = None) -> None:
        try:
            # Each outcome is one statement, committed by itself: no BEGIN and COMMIT around it
            # (on PostgreSQL one round trip a reply instead of three).
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as own:
                while not run.stop.is_set() and most != 0:
                    if run.asked_to_stop():
                        run.stop.set()
                        return
                    try:
                        row = todo.get_nowait()
                    except queue.Empty:
                        return
                    if not _deliver_one(run, own, row, deliver):
                        run.stop.set()
                    most = None if most is None else most - 1
        except BaseException as exc:  # handed to drain's caller, as if sent from one thread
            run.errors.append(exc)
            run.stop.set()

    if len(senders) == 1:
        work(senders[0])  # a Maildir, or one SMTP connection: no thread needed
        return ids
    if not run.probed:
        # The drain's first reply goes alone: when the server cannot be reached, one reply says
        # so, not one per connection.
        run.probed = True
        work(senders[0], most=1)
        if run.stop.is_set():
            return ids
    threads = [
        threading.Thread(target=work, args=(deliver,), name=f"outbox-{n}")
        for n, deliver in enumerate(senders)
    ]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:  # Ctrl-C: each thread finishes the reply in hand and takes no other
        run.stop.set()
        for thread in threads:
            thread.join()
        raise
    return ids


def _deliver_one(run: _Run, conn: Connection, row, deliver: Deliver) -> bool:
    """Deliver one claimed reply; False when the server could not be reached at all."""
    attempts = row.attempts + 1
    try:
        deliver(row.raw, list(row.to_addresses))
    except DeliveryError as exc:
        if exc.held:
            run.write(conn, outbox.put_back, row.id)  # queued as it was: no attempt counted
            with run.tally:
                run.report.error = run.report.error or str(exc)
                run.report.errors.append(str(exc))
            log.error("outbox: %s; replies stay queued, no attempt counted", exc)
            return False
        retry = exc.transient and attempts < MAX_ATTEMPTS
        retry_time = outbox.retry_at(attempts, run.now) if retry else None
        run.write(conn, outbox.mark_failed, row.id, attempts, str(exc)[:500], retry_time)
        with run.tally:
            run.report.failed += 1
            run.report.errors.append(f"reply {row.message_id}: {exc}")
            if exc.unreachable:
                run.report.error = run.report.error or str(exc)
        log.warning(
            "reply %s not sent (attempt %d%s): %s",
            row.message_id,
            attempts,
            ", will retry" if retry else ", giving up",
            exc,
        )
        return not exc.unreachable
    # At once: until this commit, a kill makes the reply go out again.
    run.write(conn, outbox.mark_sent, row.id, attempts, run.now)
    with run.tally:
        run.report.sent += 1
    log.info("reply %s sent to %s", row.message_id, ", ".join(row.to_addresses))
    return True
