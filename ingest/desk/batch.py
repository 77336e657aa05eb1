"""The store step for one batch of a mailbox's new mail, in one transaction, as named stages.

Before the mail: find the copies already stored → count today's replies to whoever this batch may
answer. Then each mail in turn: store it → decide its reply → make the mails it asks for (or, when
it cannot be answered: store it → flag it unanswered). After the mail: queue what was made →
advance the mailbox's mark → commit. One mail that fails is taken again alone (process_batch) and
never stops the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ingest.config import Config, MailboxSettings
from ingest.desk.answers import answers_to
from ingest.desk.cycle_report import MailOutcome
from ingest.reading.addresses import mailbox_of
from ingest.reading.ticket import ReadResult
from ingest.rules.decide import Decision, decide, reply_candidates, situation
from ingest.store import db, mailbox_state, outbox
from ingest.store.db import Session, SQLAlchemyError
from ingest.store.duplicates import stored_copies
from ingest.store.tickets import add_flag, store_email

if TYPE_CHECKING:
    from ingest.rules.stored import Stored

# The poll loads this module with its first mail, not at the top: a cycle with no mail needs none
# of the reader, the rules or the reply templates (issue 22).

log = logging.getLogger("gongdan.poll")


@dataclass
class Mail:
    """One email of the batch, as the stages fill it in."""

    key: object  # an IMAP UID, or a Maildir file name
    raw: bytes
    read: ReadResult
    stored: Stored | None = None
    decision: Decision | None = None

    @property
    def uid(self) -> int | None:
        """An IMAP key is its UID; a Maildir key (a file name) has none."""
        return self.key if isinstance(self.key, int) else None


@dataclass
class Batch:
    """A batch on its way through the stages, in the transaction of `session`."""

    session: Session
    config: Config
    box: MailboxSettings
    uidvalidity: int | None
    mails: list[Mail]
    now: datetime
    known: dict = field(default_factory=dict)  # copies already stored: sha256/Message-ID -> row
    replies_today: dict = field(default_factory=dict)  # canonical mailbox -> replies in a day
    outgoing: list = field(default_factory=list)  # the mails to queue (store.outbox.Outgoing)


def find_copies(batch: Batch) -> None:
    raws, readings = [m.raw for m in batch.mails], [m.read.reading for m in batch.mails]
    batch.known = stored_copies(batch.session, raws, readings)


def count_replies_today(batch: Batch) -> None:
    """Replies in the last day to every mailbox a reply of this batch may go to: one query."""
    candidates = {
        address
        for mail in batch.mails
        if mail.read.reading is not None
        for address in reply_candidates(mail.read.reading.mail, batch.config)
    }
    since = batch.now - timedelta(days=1)
    batch.replies_today = outbox.replies_since_each(batch.session, candidates, since)


def store(batch: Batch, mail: Mail) -> None:
    mail.stored = store_email(
        batch.session,
        mail.raw,
        batch.config,
        mail.read,
        batch.known,
        now=batch.now,
        mailbox=batch.box.name,
        uid=mail.uid,
        uidvalidity=batch.uidvalidity,
    )


def decide_reply(batch: Batch, mail: Mail) -> None:
    mail.decision = decide(situation(mail.stored, batch.config, batch.replies_today))
    if mail.decision.flag:
        add_flag(batch.session, mail.stored.message_db_id, mail.decision.flag)
    if mail.decision.kind and mail.decision.to:
        batch.replies_today[mailbox_of(mail.decision.to)] += 1


def make_answers(batch: Batch, mail: Mail) -> None:
    batch.outgoing += answers_to(batch.session, batch.config, mail.stored, mail.decision, batch.now)


def flag_unanswered(batch: Batch, mail: Mail) -> None:
    """A mail stored without a reply: flagged `reply_failed` (a stored copy needs none)."""
    duplicate = mail.stored.outcome == "duplicate"
    if mail.stored.message_db_id and not duplicate:
        add_flag(batch.session, mail.stored.message_db_id, "reply_failed")
    mail.decision = Decision(None, "stored already" if duplicate else "reply could not be prepared")


def queue_outgoing(batch: Batch) -> None:
    outbox.enqueue_many(batch.session.connection(), batch.outgoing, batch.now)


def advance_mailbox(batch: Batch) -> None:
    uids = [m.uid for m in batch.mails if m.uid is not None]
    if uids:
        mailbox_state.advance(batch.session, batch.box.name, max(uids))


BEFORE: tuple[Callable[[Batch], None], ...] = (find_copies, count_replies_today)
BEFORE_UNANSWERED: tuple[Callable[[Batch], None], ...] = (find_copies,)  # no limit to count
ANSWERED: tuple[Callable[[Batch, Mail], None], ...] = (store, decide_reply, make_answers)
UNANSWERED: tuple[Callable[[Batch, Mail], None], ...] = (store, flag_unanswered)
AFTER: tuple[Callable[[Batch], None], ...] = (queue_outgoing, advance_mailbox)


def store_and_answer(batch: Batch, answer: bool = True) -> list[MailOutcome]:
    """Run the batch through the stages (UNANSWERED when not `answer`), then commit. Raises on
    any failure, leaving the rollback to the caller."""
    for stage in BEFORE if answer else BEFORE_UNANSWERED:
        stage(batch)
    for mail in batch.mails:
        for mail_stage in ANSWERED if answer else UNANSWERED:
            mail_stage(batch, mail)
    for stage in AFTER:
        stage(batch)
    batch.session.commit()
    for mail in batch.mails:
        _log_handled(batch.box, mail)
    return [MailOutcome(m.stored.outcome, m.decision.kind) for m in batch.mails]


def process_batch(batch: Batch) -> list[MailOutcome]:
    """Store, decide and queue a batch in one transaction. Should any email of it fail (a
    concurrent copy, a bug of ours, a value the database refuses), the batch is rolled back and
    taken again as batches of one, so that email alone is set apart (set_apart). Only a failure
    of the database itself (gone, locked, full) stops the mailbox: one mail never blocks it."""
    try:
        return store_and_answer(batch)
    except Exception as exc:
        batch.session.rollback()
        if db.databases_fault(exc):
            raise  # the database is down or locked: stop here, the batch stays unprocessed
        if len(batch.mails) == 1:
            return set_apart(batch.mails[0], batch, exc)
    return [outcome for mail in batch.mails for outcome in process_batch(_alone(batch, mail))]


def set_apart(mail: Mail, batch: Batch, exc: Exception) -> list[MailOutcome]:
    """One email that failed: stored without a reply (a copy another worker stored a moment ago
    is then recognised as such); if even that fails for the mail's own data (or a bug of ours in
    storing it), its bytes are kept as `unreadable` with the error (SPEC §6b)."""
    if not isinstance(exc, SQLAlchemyError):
        # A bug of ours while deciding or rendering must neither lose the email nor stop the batch.
        log.exception(
            "mailbox=%s uid=%s: cannot prepare the reply; storing the email without one",
            batch.box.name,
            mail.key,
        )
    try:
        return store_and_answer(_alone(batch, mail), answer=False)
    except Exception as again:
        batch.session.rollback()
        if db.databases_fault(again):
            raise
        error = (
            f"database error: {db.short_error(again)}"
            if isinstance(again, SQLAlchemyError)
            else f"cannot store it: {type(again).__name__}: {again}"  # a bug of ours
        )
        error = error[:500].replace("\x00", "")
        log.warning("mailbox=%s uid=%s: kept unreadable: %s", batch.box.name, mail.key, error)
        unreadable = Mail(mail.key, mail.raw, ReadResult(None, error))
        return store_and_answer(_alone(batch, unreadable), answer=False)


def _alone(batch: Batch, mail: Mail) -> Batch:
    """A batch of the one `mail`, fresh from its reading (nothing of a failed try is kept)."""
    fresh = Mail(mail.key, mail.raw, mail.read)
    return Batch(batch.session, batch.config, batch.box, batch.uidvalidity, [fresh], batch.now)


def _log_handled(box: MailboxSettings, mail: Mail) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    stored, decision = mail.stored, mail.decision
    reading = stored.reading
    fields = {
        "mailbox": box.name,
        "uid": mail.key,
        "message_id": (reading.mail.message_id if reading else None) or None,
        "ticket": stored.ticket_id,
        "outcome": stored.outcome,
        "action": decision.kind or f"none ({decision.reason})",
    }
    log.info(
        "mailbox=%s uid=%s message_id=%s ticket=%s outcome=%s action=%s",
        box.name,
        mail.key,
        fields["message_id"] or "-",
        stored.ticket_id or "-",
        stored.outcome,
        fields["action"],
        extra=fields,
    )
