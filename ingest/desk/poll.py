"""The poll cycle: take each mailbox's new mail, store it, answer it by the rules, send the outbox.

The cycle's steps (run_steps): take the mailboxes → tell the engineers of follow-ups
(ingest.desk.notices) → follow up (ingest.desk.remind) → send the outbox (replies.send_stage).
Per mailbox, batch after batch: fetch (ingest.sources.mailboxes) → read (ingest.sources.read_ahead)
→ store, decide and queue (the stages of ingest.desk.batch) → mark processed. Everything is as of
the cycle's one `now`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from ingest.config import Config, ConfigError, MailboxSettings
from ingest.desk.cycle_report import CycleReport, MailboxReport
from ingest.desk.remind import remind_due
from ingest.sources import batches, mailboxes
from ingest.sources.errors import SourceDisconnected, SourceError
from ingest.store import db, mailbox_state
from ingest.store.db import Engine, SQLAlchemyError
from ingest.store.lock import exclusive
from replies.send_stage import OUTBOX_WAIT, send_due

if TYPE_CHECKING:
    from ingest.sources.mailboxes import Source

# Cron runs `gongdan poll` every minute and most runs find no mail: the reader (its patterns
# compile as it loads), the store step, the rules and the reply templates are imported by the
# functions below that need them, once there is mail to read (SPEC §9, issue 22).

log = logging.getLogger("gongdan.poll")

RECONNECTS = 3  # a dropped IMAP connection is reopened this many times per cycle
BATCH = 50  # emails stored in one transaction, then flagged or moved with one IMAP command
BATCH_BYTES = batches.BUDGET  # ... or fewer: a batch ends at this many bytes of raw mail


@dataclass
class Cycle:
    """One poll cycle as its steps see it: what to do, where, as of when, and what they did."""

    config: Config
    engine: Engine
    now: datetime
    stop: Callable[[], bool]
    report: CycleReport = field(default_factory=CycleReport)


def take_mailboxes(cycle: Cycle) -> None:
    """Every mailbox's new mail (poll_mailbox), one after the other."""
    for box in cycle.config.mailboxes:
        try:
            report = poll_mailbox(cycle, box)
        except SQLAlchemyError as exc:
            # The database went away around the lock itself: this cycle ends for the mailbox,
            # its mail stays unprocessed and the next cycle takes it.
            error = f"database error: {db.short_error(exc)}"
            log.error("mailbox %s: %s", box.name, error)
            report = MailboxReport(box.name, error=error)
        cycle.report.mailboxes.append(report)
        if cycle.stop():
            break


def tell_engineers(cycle: Cycle) -> None:
    """Only mail stored in this cycle (at its `now`) can be a follow-up to notify of."""
    if any(m.counts for m in cycle.report.mailboxes):
        from ingest.desk.notices import notify_engineers  # with the mail (see the top)

        cycle.report.notices = notify_engineers(cycle.config, cycle.engine, cycle.now)


def follow_up(cycle: Cycle) -> None:
    cycle.report.remind = remind_due(cycle.config, cycle.engine, cycle.now)


def send_outbox(cycle: Cycle) -> None:
    """Another run sending the outbox finishes soon; wait for it so our new replies go out now."""
    cycle.report.outbox = send_due(cycle.config, cycle.engine, cycle.now, wait=OUTBOX_WAIT)
    cycle.report.outbox_locked = cycle.report.outbox is None


def run_cycle(
    config: Config,
    engine: Engine,
    now: datetime,
    stop: Callable[[], bool] = lambda: False,
) -> CycleReport:
    """One cycle as of `now`: every mailbox, the engineers' notices, the follow-ups due, then the
    sending stage (run_steps)."""
    cycle = Cycle(config, engine, now, stop)
    run_steps(cycle)
    return cycle.report


def run_steps(cycle: Cycle) -> None:
    """The cycle's steps, in order. A step whose database fails is reported and the next step
    still runs (take_mailboxes reports its errors per mailbox)."""
    take_mailboxes(cycle)
    with reported(cycle.report, "notices_error"):
        tell_engineers(cycle)
    with reported(cycle.report, "remind_error"):
        follow_up(cycle)
    with reported(cycle.report, "outbox_error"):
        send_outbox(cycle)


@contextmanager
def reported(report: CycleReport, error_field: str) -> Iterator[None]:
    """The one error boundary of a step: its database error goes to `error_field` and the log."""
    try:
        yield
    except SQLAlchemyError as exc:
        setattr(report, error_field, f"database error: {db.short_error(exc)}")
        log.error("%s: %s", error_field.removesuffix("_error"), getattr(report, error_field))


def poll_mailbox(cycle: Cycle, box: MailboxSettings) -> MailboxReport:
    """The mailbox's new mail, under its lock (a mailbox another run holds is skipped); a dropped
    connection is opened again, up to RECONNECTS times. How it ended is recorded."""
    with exclusive(cycle.engine, f"mailbox:{box.name}") as got:
        if not got:
            log.info("mailbox %s: another gongdan poll is working on it; skipped", box.name)
            return MailboxReport(box.name, locked=True)
        report = MailboxReport(box.name)
        for attempt in range(RECONNECTS + 1):
            source = None
            try:
                source = mailboxes.open_source(box)
                source.connect()
                _take_new_mail(cycle, box, source, report)
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
        mailbox_state.record(cycle.engine, box.name, report.error, cycle.now)
        return report


def _take_new_mail(
    cycle: Cycle, box: MailboxSettings, source: Source, report: MailboxReport
) -> None:
    """The cycle's steps for one mailbox, batch after batch."""
    keys, uidvalidity = _new_mail(cycle.engine, box, source)
    if not keys:
        return
    from ingest.desk.batch import Batch, Mail, process_batch  # mail to store (see the top)
    from ingest.sources.read_ahead import ReadAhead, worth_it

    # While one batch is stored, the next are fetched and read (in a helper process if it pays).
    parallel = cycle.config.desk.parallel and worth_it(len(keys), BATCH)
    if parallel:
        log.info("mailbox %s: %d new emails; reading in a helper process", box.name, len(keys))
    fetched = mailboxes.fetch_batches(source, keys, cycle.stop, BATCH, BATCH_BYTES)
    with ReadAhead(cycle.config.desk, parallel) as reader:
        readings = reader.in_order(fetched)
        with db.session(cycle.engine) as session:  # mail to store: the ORM session now (issue 22)
            for fetched_batch, reads in readings:
                mails = [
                    Mail(key, raw, read)
                    for (key, raw), read in zip(fetched_batch, reads(), strict=True)
                ]
                del fetched_batch
                batch = Batch(session, cycle.config, box, uidvalidity, mails, cycle.now)
                outcomes = process_batch(batch)
                unreadable = [o.outcome == "unreadable" for o in outcomes]
                mailboxes.mark(
                    source,
                    [m.key for m, bad in zip(mails, unreadable, strict=True) if not bad],
                    [m.key for m, bad in zip(mails, unreadable, strict=True) if bad],
                )
                for outcome in outcomes:
                    report.add(outcome.outcome)
                    if outcome.reply:
                        report.add("replies")
                del mails, batch  # before the next batch is fetched: one batch in memory


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
