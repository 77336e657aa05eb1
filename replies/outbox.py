"""The outbox: replies queued in the database with the mail that caused them, sent once each."""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, func, insert, or_, select, true, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.expression import Executable as Statement
from sqlmodel import Session

from ingest import db
from ingest.models import MailboxState, Message, Outbox, utcnow
from ingest.threads import mailbox_of
from replies.journal import Journal, apply_journal

log = logging.getLogger("gongdan.outbox")

MAX_ATTEMPTS = 20
INTERRUPTED = ("interrupted while the message was being handed to the mail server; not resent, "
               "so the operator never gets it twice (once you know it did not arrive: "
               "gongdan outbox retry MESSAGE-ID)")


class DeliveryError(RuntimeError):
    """A reply could not be handed over; `transient` ones are retried.

    `unreachable`: the server cannot be reached, so the rest of the queue waits too (the reply in
    hand counts an attempt and backs off). `held`: the outbox itself refused to send (a missing
    password, a refused login, plain SMTP to a non-local host, a failed TLS check, an outbox
    folder it cannot write): nothing is wrong with the reply, so it stays queued, no attempt
    counted, and goes out at the first drain after the admin fixed the configuration.
    """

    def __init__(self, message: str, transient: bool = True, unreachable: bool = False,
                 held: bool = False):
        super().__init__(message)
        self.transient = transient
        self.unreachable = unreachable or held
        self.held = held


_INSERT_OUTBOX = insert(Outbox.__table__)
_INSERT_MESSAGE = insert(Message.__table__)


def enqueue(session: Session, *, kind: str, raw: bytes, message_id: str, recipient: str,
            ticket_id: int | None, caused_by: int | None, subject: str, from_address: str,
            later: list | None = None) -> None:
    """Queue a reply in the caller's transaction, and keep it on its thread as an outgoing message.

    With `later`, the rows are appended to it instead, for insert_queued() to write a batch's
    replies at once, still before that batch's commit.
    """
    now = utcnow()
    rows = ({
        "ticket_id": ticket_id, "caused_by": caused_by, "kind": kind, "message_id": message_id,
        "recipient": recipient.lower(), "to_addresses": [recipient], "raw": raw, "state": "queued",
        "attempts": 0, "next_attempt_at": now, "created_at": now,
    }, {
        "ticket_id": ticket_id, "message_id": message_id, "in_reply_to": "", "references": [],
        "from_address": from_address, "to_addresses": [recipient], "subject": subject, "date": now,
        "text": "", "raw": raw, "raw_sha256": hashlib.sha256(raw).hexdigest(), "size": len(raw),
        "mailbox": "", "direction": "out", "auto_submitted": True, "flags": [kind], "received_at": now,
    })
    if later is None:
        insert_queued(session, [rows])
    else:
        later.append(rows)


def insert_queued(session: Session, queued: list[tuple[dict, dict]]) -> None:
    """Write replies that enqueue() kept for later (two statements for any number of them)."""
    if queued:
        conn = session.connection()
        conn.execute(_INSERT_OUTBOX, [outbox_row for outbox_row, _ in queued])
        conn.execute(_INSERT_MESSAGE, [message_row for _, message_row in queued])


def _like(text: str) -> str:
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _replies_since(mailboxes: list[str]):
    """Replies counted by the mailbox they reach: to `a@x` itself, or to any `a+tag@x`."""
    tagged = [Outbox.recipient.like(f"{_like(local)}+%@{_like(domain)}", escape="/")
              for local, _, domain in (m.rpartition("@") for m in mailboxes) if local]
    return select(Outbox.recipient, func.count()).where(
        or_(Outbox.recipient.in_(mailboxes), *tagged), Outbox.created_at >= bindparam("since"),
        Outbox.kind.in_(("ack", "request_info"))).group_by(Outbox.recipient)


def replies_since(session: Session, recipient: str, since: datetime) -> int:
    """Replies queued to `recipient`'s mailbox since `since` (the per-sender daily limit)."""
    return replies_since_each(session, {recipient}, since)[mailbox_of(recipient)]


def replies_since_each(session: Session, recipients: set[str], since: datetime) -> dict[str, int]:
    """replies_since for several recipients at once, by mailbox (`a+1@x` and `a+2@x` count as
    `a@x`, SPEC §6a): one query for a batch of emails."""
    counts = {mailbox_of(r): 0 for r in recipients}
    if counts:
        rows = session.connection().execute(_replies_since(list(counts)), {"since": since})
        for recipient, n in rows:
            key = mailbox_of(recipient)
            if key in counts:
                counts[key] += n
    return counts


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 60 * 2 ** max(0, attempts - 1)))


FIRST_RETRY = _backoff(1)  # how long a reply that failed once waits


def recover_interrupted(conn: Connection, resend_started: bool = False) -> int:
    """Under the outbox lock, a row left `sending` belongs to a run that died.

    Before DATA began the server has nothing: queue it again. After, it may have been delivered:
    never resend automatically, unless `resend_started` (a sender that recognises what it already
    delivered, such as the Maildir outbox, whose file is named by the Message-ID).
    """
    started = true() if resend_started else Outbox.data_started_at.is_(None)
    requeued = conn.execute(update(Outbox.__table__).where(
        Outbox.state == "sending", started).values(
        state="queued", claimed_at=None, data_started_at=None)).rowcount
    conn.execute(update(Outbox.__table__).where(
        Outbox.state == "sending", Outbox.data_started_at.is_not(None)).values(
        state="failed", last_error=INTERRUPTED, next_attempt_at=None))
    conn.commit()
    return requeued


@dataclass
class DrainReport:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # one line per reply not sent, and `error`
    error: str | None = None  # the outbox could not send at all (DeliveryError.unreachable/held)


DRAIN_STATE = "[outbox]"  # the MailboxState row that remembers the last drain, for `gongdan status`


def record_drain(engine: Engine, error: str | None) -> None:
    """Remember how the last drain ended: success, or the one error that stopped it."""
    table = MailboxState.__table__
    now = utcnow()
    values = ({"last_success_at": now} if error is None
              else {"last_error": error[:1000], "last_error_at": now})
    with engine.begin() as conn:
        row = update(table).where(MailboxState.name == DRAIN_STATE)
        if not conn.execute(row.values(**values)).rowcount:
            conn.execute(insert(table).values(name=DRAIN_STATE, last_uid=0, **values))


_OUTBOX = Outbox.__table__
_DUE = select(Outbox.id, Outbox.raw, Outbox.to_addresses, Outbox.attempts, Outbox.message_id).where(
    Outbox.id > bindparam("last"), Outbox.state.in_(("queued", "failed")), Outbox.next_attempt_at.is_not(None),
    Outbox.next_attempt_at <= bindparam("now")).order_by(Outbox.id).limit(bindparam("limit"))
_DATA_STARTED = update(_OUTBOX).where(Outbox.id == bindparam("row_id")).values(data_started_at=bindparam("at"))
_SENT = update(_OUTBOX).where(Outbox.id == bindparam("row_id")).values(
    state="sent", attempts=bindparam("tries"), sent_at=bindparam("at"), last_error=None, next_attempt_at=None)
_HELD = update(_OUTBOX).where(Outbox.id == bindparam("row_id")).values(
    state="queued", claimed_at=None, data_started_at=None)
_FAILED = update(_OUTBOX).where(Outbox.id == bindparam("row_id")).values(
    state="failed", attempts=bindparam("tries"), last_error=bindparam("error"), data_started_at=None,
    next_attempt_at=bindparam("retry_at"))

Deliver = Callable[[bytes, list[str], Callable[[], None]], None]


class _Marks:
    """The drain's writes to the outbox, committed in groups.

    Every marker (before DATA, sent, failed) is committed before its thread goes on; a thread that
    commits takes every marker waiting at that moment, its own and the other threads', in one
    transaction, and while another thread is committing it waits for that commit or the next.
    One writer at a time also suits SQLite's single writer.
    """

    def __init__(self):
        self._cond = threading.Condition()
        self._committing = False
        self._waiting: list[tuple[Statement, dict]] = []
        self._generation = 0  # commits finished
        self._error: BaseException | None = None  # of the last commit

    def write(self, conn: Connection, statement, params: dict) -> None:
        with self._cond:
            self._waiting.append((statement, params))
            wanted = self._generation + (2 if self._committing else 1)  # a running commit may not hold it
            while self._committing and self._generation < wanted:
                self._cond.wait()
            if self._generation >= wanted:
                if self._error is not None:
                    raise self._error
                return
            self._committing = True
            writes, self._waiting = self._waiting, []
        error = None
        try:
            for statement, params in writes:
                conn.execute(statement, params)
            conn.commit()
        except BaseException as exc:
            conn.rollback()
            error = exc
        with self._cond:
            self._committing = False
            self._generation += 1
            self._error = error
            self._cond.notify_all()
        if error is not None:
            raise error

    # What the drain records, in the database.

    def claim(self, conn: Connection, ids: list[int]) -> None:
        # A crash before DATA leaves them to recover_interrupted.
        conn.execute(update(_OUTBOX).where(Outbox.id.in_(ids)).values(
            state="sending", claimed_at=utcnow(), data_started_at=None))
        conn.commit()

    def unclaim(self, conn: Connection, ids: list[int]) -> None:
        self.write(conn, update(_OUTBOX).where(
            Outbox.id.in_(ids), Outbox.state == "sending", Outbox.data_started_at.is_(None)).values(
            state="queued", claimed_at=None), {})

    def held(self, conn: Connection, row_id: int) -> None:
        self.write(conn, _HELD, {"row_id": row_id})

    def started(self, conn: Connection, row_id: int, attempts: int) -> None:
        self.write(conn, _DATA_STARTED, {"row_id": row_id, "at": utcnow()})

    def sent(self, conn: Connection, row_id: int, attempts: int) -> None:
        # Committed at once too: a crash right after would otherwise leave a delivered reply
        # looking interrupted, and a person might send it again.
        self.write(conn, _SENT, {"row_id": row_id, "tries": attempts, "at": utcnow()})

    def failed(self, conn: Connection, row_id: int, attempts: int, retry_at: datetime | None, error: str) -> None:
        self.write(conn, _FAILED, {"row_id": row_id, "tries": attempts, "error": error, "retry_at": retry_at})


class _JournalMarks:
    """What the drain records, in the journal (replies.journal): beside a poll on SQLite, which
    holds the database's one write lock; rows are neither claimed nor written until it is applied."""

    def __init__(self, journal: Journal):
        self.journal = journal

    def claim(self, conn: Connection, ids: list[int]) -> None:
        pass

    unclaim = claim

    def held(self, conn: Connection, row_id: int) -> None:
        pass  # never claimed; a `started` line of an idempotent sender is not applied

    def started(self, conn: Connection, row_id: int, attempts: int) -> None:
        self.journal.started(row_id, attempts, utcnow())

    def sent(self, conn: Connection, row_id: int, attempts: int) -> None:
        self.journal.sent(row_id, attempts, utcnow())

    def failed(self, conn: Connection, row_id: int, attempts: int, retry_at: datetime | None, error: str) -> None:
        self.journal.failed(row_id, attempts, retry_at, error)


@dataclass
class _Run:
    """What the sending threads of one drain share."""
    engine: Engine
    report: DrainReport
    marks: _Marks | _JournalMarks = field(default_factory=_Marks)
    tally: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)  # no thread takes another reply
    errors: list[BaseException] = field(default_factory=list)
    probed: bool = False  # the drain's first reply has been tried alone


def drain(engine: Engine, senders: Sequence[Deliver], now: datetime | None = None, limit: int = 100,
          more: Callable[[], bool] | None = None) -> DrainReport:
    """Hand every due reply to one of `senders`, each `deliver(raw, recipients, before_data)`.

    Each sender gets its own thread and database connection; each reply goes to exactly one of
    them. The caller holds the outbox lock. Beside a poll, `more()` blocks until the poll committed
    new replies (True) or is done (False); without it the drain ends with the queue. Beside a poll
    on SQLite, whose one write lock the poll holds, the drain records in the outbox journal and
    writes it into the database at its end.
    """
    path = journal_path(engine) if engine.dialect.name == "sqlite" else None
    # A sender that recognises what it already delivered (`idempotent`) takes back what a run
    # that died had started; over SMTP that could give the operator a second copy, so it waits
    # for a person.
    resend = all(getattr(deliver, "idempotent", False) for deliver in senders)
    with engine.connect() as conn:
        if path:
            apply_journal(conn, path, INTERRUPTED, resend)  # what a sending process that died left
        recover_interrupted(conn, resend)
        journal = Journal(path) if path and more is not None else None
        try:
            report = _drain(engine, conn, senders, now, limit, journal, more)
        finally:
            if journal:
                journal.close()
        if journal:
            # The poll is done (or sending stopped early).
            apply_journal(conn, path, INTERRUPTED, resend)
    return report


def _drain(engine: Engine, conn: Connection, senders: Sequence[Deliver], now: datetime | None, limit: int,
           journal: Journal | None, more: Callable[[], bool] | None) -> DrainReport:
    run = _Run(engine, DrainReport(), _JournalMarks(journal) if journal else _Marks())
    last = 0
    while True:  # in pages, so a long queue never sits in memory at once
        due = conn.execute(_DUE, {"last": last, "now": now or utcnow(), "limit": limit}).all()
        conn.rollback()  # end the read: no snapshot stays open while we send
        if not due:
            if more is not None and more():
                continue
            break
        ids = [row.id for row in due]
        run.marks.claim(conn, ids)
        _send_page(run, senders, due)
        if run.errors:
            raise run.errors[0]  # the rows still `sending` are left to recover_interrupted
        if run.stop.is_set():
            # No point in trying the rest now (each would wait for its own time-out).
            run.marks.unclaim(conn, ids)
            break
        last = ids[-1]
    return run.report


def journal_path(engine: Engine) -> Path:
    """The outbox journal of a SQLite database: a hidden file beside it."""
    return db.beside_database(engine, "outbox-journal")


def _send_page(run: _Run, senders: Sequence[Deliver], due: list) -> None:
    """Deliver the claimed rows `due` with every sender at once, until done or the server is unreachable."""
    todo = queue.SimpleQueue()
    for row in due:
        todo.put(row)

    def work(deliver: Deliver, most: int | None = None) -> None:
        try:
            with run.engine.connect() as conn:
                while not run.stop.is_set() and most != 0:
                    try:
                        row = todo.get_nowait()
                    except queue.Empty:
                        return
                    if not _deliver_one(run, conn, row, deliver):
                        run.stop.set()
                    most = None if most is None else most - 1
        except BaseException as exc:  # handed to drain's caller, as if sent from one thread
            run.errors.append(exc)
            run.stop.set()

    if len(senders) == 1:
        work(senders[0])  # a Maildir, or one SMTP connection: no thread needed
        return
    if not run.probed:
        # The drain's first reply goes alone: when the server cannot be reached, one reply says
        # so, not one per connection.
        run.probed = True
        work(senders[0], most=1)
        if run.stop.is_set():
            return
    threads = [threading.Thread(target=work, args=(deliver,), name=f"outbox-{n}") for n, deliver in enumerate(senders)]
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


def _deliver_one(run: _Run, conn: Connection, row, deliver: Deliver) -> bool:
    """Deliver one claimed reply; False when the server could not be reached at all."""
    attempts = row.attempts + 1
    try:
        # Recorded before DATA: from there on a crash never leads to sending it again.
        deliver(row.raw, list(row.to_addresses), lambda: run.marks.started(conn, row.id, attempts))
    except DeliveryError as exc:
        if exc.held:
            run.marks.held(conn, row.id)  # back in the queue as it was: no attempt counted
            with run.tally:
                run.report.error = run.report.error or str(exc)
                run.report.errors.append(str(exc))
            log.error("outbox: %s; replies stay queued until this is fixed", exc)
            return False
        retry = exc.transient and attempts < MAX_ATTEMPTS
        run.marks.failed(conn, row.id, attempts, utcnow() + _backoff(attempts) if retry else None, str(exc)[:500])
        with run.tally:
            run.report.failed += 1
            run.report.errors.append(f"reply {row.message_id}: {exc}")
            if exc.unreachable:
                run.report.error = run.report.error or str(exc)
        log.warning("reply %s not sent (attempt %d%s): %s", row.message_id, attempts,
                    ", will retry" if retry else ", giving up", exc)
        return not exc.unreachable
    run.marks.sent(conn, row.id, attempts)
    with run.tally:
        run.report.sent += 1
    log.info("reply %s sent to %s", row.message_id, ", ".join(row.to_addresses))
    return True


def requeue(session: Session, message_id: str) -> bool:
    """Queue a failed reply again, now (an admin's decision after checking the mail server)."""
    done = session.connection().execute(update(Outbox.__table__).where(
        Outbox.message_id == message_id, Outbox.state == "failed").values(
        state="queued", next_attempt_at=utcnow(), data_started_at=None, claimed_at=None)).rowcount
    session.commit()
    return bool(done)
