"""The poll cycle: take each mailbox's new mail, store it, answer it by the rules, send the outbox.

Per mailbox, batch after batch: fetch (ingest.sources.mailboxes) → read (ingest.desk.read_ahead)
→ store (ingest.store.tickets) → decide (ingest.rules.decide) → queue (ingest.desk.answers) → mark
processed (ingest.sources.mailboxes); then the engineers' notices (ingest.desk.notices), remind
(ingest.desk.remind) and send (replies.send_stage.send_due). Everything is as of the cycle's one
`now`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ingest.config import Config, ConfigError, MailboxSettings
from ingest.desk.cycle_report import CycleReport, MailboxReport, MailOutcome
from ingest.desk.remind import remind_due
from ingest.sources import batches, mailboxes
from ingest.sources.errors import SourceDisconnected, SourceError
from ingest.store import db, mailbox_state
from ingest.store.db import Engine, SQLAlchemyError
from ingest.store.lock import exclusive
from replies.send_stage import OUTBOX_WAIT, send_due

if TYPE_CHECKING:
    from ingest.reading.ticket import ReadResult
    from ingest.rules.decide import Decision
    from ingest.rules.stored import Stored
    from ingest.sources.mailboxes import Source
    from ingest.store.db import Session

# Cron runs `gongdan poll` every minute and most runs find no mail: the reader (its patterns
# compile as it loads), the store step, the rules and the reply templates are imported by the
# functions below that need them, once there is mail to read (SPEC §9, issue 22).

log = logging.getLogger("gongdan.poll")

RECONNECTS = 3  # a dropped IMAP connection is reopened this many times per cycle
BATCH = 50  # emails stored in one transaction, then flagged or moved with one IMAP command
BATCH_BYTES = batches.BUDGET  # ... or fewer: a batch ends at this many bytes of raw mail


def run_cycle(
    config: Config,
    engine: Engine,
    now: datetime,
    stop: Callable[[], bool] = lambda: False,
) -> CycleReport:
    """One cycle as of `now`: every mailbox, then the follow-ups due, then the sending stage. A
    mailbox or the outbox is skipped if another run holds it."""
    report = CycleReport()
    for box in config.mailboxes:
        try:
            with exclusive(engine, f"mailbox:{box.name}") as got:
                if not got:
                    log.info("mailbox %s: another gongdan poll is working on it; skipped", box.name)
                    report.mailboxes.append(MailboxReport(box.name, locked=True))
                    continue
                report.mailboxes.append(poll_mailbox(config, engine, box, now, stop))
        except SQLAlchemyError as exc:
            # The database went away around the lock itself: this cycle ends for the mailbox,
            # its mail stays unprocessed and the next cycle takes it.
            error = f"database error: {db.short_error(exc)}"
            log.error("mailbox %s: %s", box.name, error)
            report.mailboxes = [m for m in report.mailboxes if m.name != box.name]
            report.mailboxes.append(MailboxReport(box.name, error=error))
        if stop():
            break
    try:
        # Only mail stored in this cycle (at its `now`) can be a follow-up to notify of.
        if any(m.counts for m in report.mailboxes):
            from ingest.desk.notices import notify_engineers  # with the mail (see the top)

            report.notices = notify_engineers(config, engine, now)
    except SQLAlchemyError as exc:
        report.notices_error = f"database error: {db.short_error(exc)}"
        log.error("notices: %s", report.notices_error)
    try:
        report.remind = remind_due(config, engine, now)
    except SQLAlchemyError as exc:
        report.remind_error = f"database error: {db.short_error(exc)}"
        log.error("remind: %s", report.remind_error)
    try:
        # Another run sending the outbox finishes soon; wait for it so our new replies go out now.
        report.outbox = send_due(config, engine, now, wait=OUTBOX_WAIT)
        report.outbox_locked = report.outbox is None
    except SQLAlchemyError as exc:
        report.outbox_error = f"database error: {db.short_error(exc)}"
        log.error("outbox: %s", report.outbox_error)
    return report


def poll_mailbox(
    config: Config,
    engine: Engine,
    box: MailboxSettings,
    now: datetime,
    stop: Callable[[], bool] = lambda: False,
) -> MailboxReport:
    report = MailboxReport(box.name)
    for attempt in range(RECONNECTS + 1):
        source = None
        try:
            source = mailboxes.open_source(box)
            source.connect()
            _take_new_mail(config, engine, box, source, report, now, stop)
            break
        except SourceDisconnected as exc:
            if attempt == RECONNECTS:
                report.error = str(exc)
            else:
                log.warning("mailbox %s: %s; reconnecting", box.name, exc)
                time.sleep(0.5 * (attempt + 1))
        except (SourceError, ConfigError) as exc:
            report.error = str(exc)
            break
        except SQLAlchemyError as exc:
            report.error = f"database error: {db.short_error(exc)}"
            break
        finally:
            if source is not None:
                source.close()
    if report.error:
        log.error("mailbox %s: %s", box.name, report.error)
    mailbox_state.record(engine, box.name, report.error, now)
    return report


def _take_new_mail(
    config: Config,
    engine: Engine,
    box: MailboxSettings,
    source: Source,
    report: MailboxReport,
    now: datetime,
    stop: Callable[[], bool],
) -> None:
    """The cycle's steps for one mailbox, batch after batch."""
    keys, uidvalidity = _new_mail(engine, box, source)
    if not keys:
        return
    with db.session(engine) as session:  # mail to store: the ORM session now (issue 22)
        from ingest.desk.read_ahead import ReadAhead, worth_it  # mail to read: the reader now

        # While one batch is stored, the next is fetched and read (in a helper process if it pays).
        parallel = config.desk.parallel and worth_it(len(keys), BATCH)
        if parallel:
            log.info("mailbox %s: %d new emails; reading in a helper process", box.name, len(keys))
        fetched = mailboxes.fetch_batches(source, keys, stop, BATCH, BATCH_BYTES)
        with ReadAhead(config.desk, parallel) as reader:
            for batch, reads in reader.in_order(fetched):
                handled = process_batch(session, config, box, uidvalidity, batch, reads(), now)
                unreadable = [h.outcome == "unreadable" for h in handled]
                mailboxes.mark(
                    source,
                    [key for (key, _), bad in zip(batch, unreadable, strict=True) if not bad],
                    [key for (key, _), bad in zip(batch, unreadable, strict=True) if bad],
                )
                for result in handled:
                    report.add(result.outcome)
                    if result.reply:
                        report.add("replies")
                del batch  # before the next batch is fetched: one batch in memory


def _new_mail(engine: Engine, box: MailboxSettings, source: Source) -> tuple[list, int | None]:
    """The keys of the mailbox's new mail, and its UIDVALIDITY. An IMAP mailbox first finishes
    the moves a crash left undone."""
    state = mailbox_state.state_of(engine, box.name)
    if box.kind != "imap":
        return source.new_keys(), None
    if state.uidvalidity != source.uidvalidity:
        if state.uidvalidity is not None:
            log.warning(
                "mailbox %s: UIDVALIDITY changed from %s to %s; reading it again "
                "(stored mail is recognised and skipped)",
                box.name,
                state.uidvalidity,
                source.uidvalidity,
            )
        state = mailbox_state.restart(engine, box.name, source.uidvalidity)
    if box.processed_folder:
        # Stored before a crash but never moved: finish the move now, to the right folder.
        leftovers = source.processed_leftovers(state.last_uid)
        bad = mailbox_state.unreadable_uids(engine, box.name, state.uidvalidity, leftovers)
        mailboxes.mark(
            source, [u for u in leftovers if u not in bad], [u for u in leftovers if u in bad]
        )
    return source.new_uids(state.last_uid), state.uidvalidity


def process_batch(
    session: Session,
    config: Config,
    box: MailboxSettings,
    uidvalidity: int | None,
    batch: list,
    reads: list[ReadResult],
    now: datetime,
) -> list[MailOutcome]:
    """Store, decide and queue a batch in one transaction. Should any email of it fail (a
    concurrent copy, a bug of ours, a value the database refuses), the batch is rolled back and
    taken again as batches of one, so that email alone is set apart (set_apart). Only a failure
    of the database itself (gone, locked, full) stops the mailbox: one mail never blocks it."""
    try:
        return store_and_answer(session, config, box, uidvalidity, batch, reads, now)
    except Exception as exc:
        session.rollback()
        if db.databases_fault(exc):
            raise  # the database is down or locked: stop here, the batch stays unprocessed
        if len(batch) == 1:
            return set_apart(session, config, box, uidvalidity, batch, reads, now, exc)
    return [
        handled
        for one, read in zip(batch, reads, strict=True)
        for handled in process_batch(session, config, box, uidvalidity, [one], [read], now)
    ]


def set_apart(
    session: Session,
    config: Config,
    box: MailboxSettings,
    uidvalidity: int | None,
    batch: list,
    reads: list[ReadResult],
    now: datetime,
    exc: Exception,
) -> list[MailOutcome]:
    """One email that failed: stored without a reply (a copy another worker stored a moment ago
    is then recognised as such); if even that fails for the mail's own data (or a bug of ours in
    storing it), its bytes are kept as `unreadable` with the error (SPEC §6b)."""
    from ingest.reading.ticket import ReadResult  # loaded with the mail it reads (see the top)

    if not isinstance(exc, SQLAlchemyError):
        # A bug of ours while deciding or rendering must neither lose the email nor stop the batch.
        log.exception(
            "mailbox=%s uid=%s: cannot prepare the reply; storing the email without one",
            box.name,
            batch[0][0],
        )
    try:
        return store_and_answer(session, config, box, uidvalidity, batch, reads, now, answer=False)
    except Exception as again:
        session.rollback()
        if db.databases_fault(again):
            raise
        error = (
            f"database error: {db.short_error(again)}"
            if isinstance(again, SQLAlchemyError)
            else f"cannot store it: {type(again).__name__}: {again}"  # a bug of ours
        )
        error = error[:500].replace("\x00", "")
        log.warning("mailbox=%s uid=%s: kept unreadable: %s", box.name, batch[0][0], error)
        unreadable = [ReadResult(None, error)]
        return store_and_answer(
            session, config, box, uidvalidity, batch, unreadable, now, answer=False
        )


def store_and_answer(
    session: Session,
    config: Config,
    box: MailboxSettings,
    uidvalidity: int | None,
    batch: list,
    reads: list[ReadResult],
    now: datetime,
    answer: bool = True,
) -> list[MailOutcome]:
    """Store a batch of (key, raw) emails read as `reads`, decide and queue their replies (unless
    not `answer`: then they are flagged `reply_failed`), advance the mailbox: one transaction.
    Raises on any failure, leaving the rollback to the caller."""
    # Loaded with the first mail, not at the top: a cycle with no mail needs none of them.
    from ingest.desk.answers import answers_to
    from ingest.reading.addresses import mailbox_of
    from ingest.rules.decide import Decision, decide, situation
    from ingest.store import outbox
    from ingest.store.duplicates import stored_copies
    from ingest.store.tickets import add_flag, store_email

    known = stored_copies(session, [raw for _, raw in batch], [r.reading for r in reads])
    replies_today = _replies_today(session, config, reads, now) if answer else {}
    results, outgoing = [], []
    for (key, raw), read in zip(batch, reads, strict=True):
        stored = store_email(
            session,
            raw,
            config,
            read,
            known,
            now=now,
            mailbox=box.name,
            uid=_uid(key),
            uidvalidity=uidvalidity,
        )
        if answer:
            decision = decide(situation(stored, config, replies_today))
            if decision.flag:
                add_flag(session, stored.message_db_id, decision.flag)
            outgoing += answers_to(session, config, stored, decision, now)
            if decision.kind and decision.to:
                replies_today[mailbox_of(decision.to)] += 1
        else:
            if stored.message_db_id and stored.outcome != "duplicate":
                add_flag(session, stored.message_db_id, "reply_failed")
            why = (
                "stored already" if stored.outcome == "duplicate" else "reply could not be prepared"
            )
            decision = Decision(None, why)
        results.append((key, stored, decision))
    outbox.enqueue_many(session, outgoing, now)
    uids = [_uid(key) for key, _ in batch if _uid(key) is not None]
    if uids:
        mailbox_state.advance(session, box.name, max(uids))
    session.commit()
    for key, stored, decision in results:
        _log_handled(box, key, stored, decision)
    return [MailOutcome(stored.outcome, decision.kind) for _, stored, decision in results]


def _uid(key) -> int | None:
    """An IMAP key is its UID; a Maildir key (a file name) has none."""
    return key if isinstance(key, int) else None


def _replies_today(
    session: Session, config: Config, reads: list[ReadResult], now: datetime
) -> dict[str, int]:
    """Replies in the last day to every mailbox a reply of this batch may go to: one query."""
    from ingest.rules.decide import reply_candidates  # with the mail (see the top)
    from ingest.store import outbox

    candidates = {
        address
        for read in reads
        if read.reading is not None
        for address in reply_candidates(read.reading.mail, config)
    }
    return outbox.replies_since_each(session, candidates, now - timedelta(days=1))


def _log_handled(box: MailboxSettings, key, stored: Stored, decision: Decision) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    reading = stored.reading
    fields = {
        "mailbox": box.name,
        "uid": key,
        "message_id": (reading.mail.message_id if reading else None) or None,
        "ticket": stored.ticket_id,
        "outcome": stored.outcome,
        "action": decision.kind or f"none ({decision.reason})",
    }
    log.info(
        "mailbox=%s uid=%s message_id=%s ticket=%s outcome=%s action=%s",
        box.name,
        key,
        fields["message_id"] or "-",
        stored.ticket_id or "-",
        stored.outcome,
        fields["action"],
        extra=fields,
    )
