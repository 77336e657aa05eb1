"""The poll cycle: take each mailbox's new mail, store it, answer it by the rules, send the outbox."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session

from ingest.cli.views import stop_codes_of
from ingest.config import Config, ConfigError, MailboxSettings, read_secret
from ingest.desk.decide import Decision, Situation, decide
from ingest.desk.read_ahead import ReadAhead, worth_it
from ingest.sources import batches
from ingest.sources.maildir import MaildirSource
from ingest.store import db, threads
from ingest.store.lock import exclusive
from ingest.store.models import MailboxState, Message, utcnow
from ingest.store.threads import domain_of, mailbox_of, reply_subject
from ingest.store.tickets import Stored, store_email, stored_copies, ticket_fields
from replies import outbox
from replies.compose import compose_reply, make_message_id
from replies.render import render_ack, render_request_info, render_resolved
from replies.send_stage import OUTBOX_WAIT, send_due

log = logging.getLogger("gongdan.poll")

RECONNECTS = 3  # a dropped IMAP connection is reopened this many times per cycle
BATCH = 50  # emails stored in one transaction, then flagged or moved with one IMAP command
BATCH_BYTES = batches.BUDGET  # ... or fewer: a batch ends at this many bytes of raw mail


@dataclass
class MailboxReport:
    name: str
    locked: bool = False  # another poll holds this mailbox
    counts: dict = field(default_factory=dict)  # outcome -> n, and "replies"
    error: str | None = None

    def add(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


@dataclass
class CycleReport:
    mailboxes: list[MailboxReport] = field(default_factory=list)
    outbox: outbox.DrainReport | None = None
    outbox_locked: bool = False
    outbox_error: str | None = None

    @property
    def errors(self) -> list[str]:
        """What made the cycle fail, one line each: a mailbox, or an outbox that could not send
        at all (a reply refused on its own is counted, not a cycle error)."""
        errors = [f"mailbox {m.name}: {m.error}" for m in self.mailboxes if m.error]
        outbox_error = self.outbox_error or (self.outbox.error if self.outbox else None)
        return errors + ([f"outbox: {outbox_error}"] if outbox_error else [])


def open_source(box: MailboxSettings):
    if box.kind == "imap":
        from ingest.sources.imap import ImapSource

        return ImapSource(
            box, read_secret(box.password_env, box.password_file, f"mailbox {box.name}")
        )
    if box.kind == "maildir":
        return MaildirSource(box)
    raise ConfigError(f"mailbox {box.name}: unknown kind {box.kind!r} (imap or maildir)")


def run_cycle(
    config: Config, engine: Engine, stop: Callable[[], bool] = lambda: False
) -> CycleReport:
    """One cycle over every mailbox, then the sending stage. Each part is skipped if another run
    holds it."""
    report = CycleReport()
    for box in config.mailboxes:
        try:
            with exclusive(engine, f"mailbox:{box.name}") as got:
                if not got:
                    log.info("mailbox %s: another gongdan poll is working on it; skipped", box.name)
                    report.mailboxes.append(MailboxReport(box.name, locked=True))
                    continue
                report.mailboxes.append(poll_mailbox(config, engine, box, stop))
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
        # Another run sending the outbox finishes soon; wait for it so our new replies go out now.
        report.outbox = send_due(config, engine, wait=OUTBOX_WAIT)
        report.outbox_locked = report.outbox is None
    except SQLAlchemyError as exc:
        report.outbox_error = f"database error: {db.short_error(exc)}"
        log.error("outbox: %s", report.outbox_error)
    return report


def poll_mailbox(
    config: Config, engine: Engine, box: MailboxSettings, stop: Callable[[], bool]
) -> MailboxReport:
    from ingest.sources.imap import SourceDisconnected, SourceError

    report = MailboxReport(box.name)
    for attempt in range(RECONNECTS + 1):
        source = None
        try:
            source = open_source(box)
            source.connect()
            _process(config, engine, box, source, report, stop)
            _record(engine, box.name, error=None)
            return report
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
        _record(engine, box.name, error=report.error)
    return report


def _record(engine: Engine, name: str, error: str | None) -> None:
    """Remember the last success or error of a mailbox, for `gongdan status`."""
    try:
        with db.session(engine) as session:
            state = session.get(MailboxState, name) or MailboxState(name=name)
            if error is None:
                state.last_success_at = utcnow()
            else:
                state.last_error, state.last_error_at = error[:1000], utcnow()
            session.add(state)
            session.commit()
    except SQLAlchemyError:
        log.exception("cannot record the state of mailbox %s", name)


def _process(
    config: Config,
    engine: Engine,
    box: MailboxSettings,
    source,
    report: MailboxReport,
    stop: Callable[[], bool],
) -> None:
    with db.session(engine) as session:
        state = session.get(MailboxState, box.name) or MailboxState(name=box.name)
        if box.kind == "imap":
            if state.uidvalidity != source.uidvalidity:
                if state.uidvalidity is not None:
                    log.warning(
                        "mailbox %s: UIDVALIDITY changed from %s to %s; reading it again "
                        "(stored mail is recognised and skipped)",
                        box.name,
                        state.uidvalidity,
                        source.uidvalidity,
                    )
                state.uidvalidity, state.last_uid = source.uidvalidity, 0
            session.add(state)
            session.commit()
            if box.processed_folder:
                # Stored before a crash but never moved: finish the move now, to the right folder.
                leftovers = source.processed_leftovers(state.last_uid)
                unreadable = _unreadable_uids(session, box.name, state.uidvalidity, leftovers)
                for uid in leftovers:
                    (source.mark_unreadable if uid in unreadable else source.mark_processed)(uid)
            keys = source.new_uids(state.last_uid)
        else:
            session.add(state)
            session.commit()
            keys = source.new_keys()
        # While one batch is stored, the next is fetched and read (in a helper process if it pays).
        parallel = config.desk.parallel and worth_it(len(keys), BATCH)
        if parallel:
            log.info("mailbox %s: %d new emails; reading in a helper process", box.name, len(keys))
        with ReadAhead(config, parallel) as reader:
            for batch, readings in reader.in_order(_batches(source.fetch(keys), stop)):
                _handle_batch(
                    session, config, box, batch, readings, state.uidvalidity, source, report
                )
                del batch, readings  # before the next batch is fetched: one batch in memory


def _batches(fetched, stop: Callable[[], bool]):
    """(batch, its raw emails): lists of (key, raw) pairs, up to BATCH emails or BATCH_BYTES of
    them, so memory stays flat whatever the mail sizes; a stop request ends them after the batch
    at hand."""
    for batch in batches.cut(fetched, lambda item: len(item[1]), BATCH, BATCH_BYTES, stop):
        yield batch, [raw for _, raw in batch]
        batch = None  # held by the caller while it needs it, not here while the next is fetched


def _handle_batch(
    session: Session,
    config: Config,
    box: MailboxSettings,
    batch: list,
    readings,
    uidvalidity: int | None,
    source,
    report: MailboxReport,
) -> None:
    """Store, decide and queue a fetched batch in one transaction, then flag or move it with one
    IMAP command. Should any email of it fail (a concurrent copy, a bug of ours), the batch is
    rolled back and taken again one email per transaction, so that email alone is set apart."""
    try:
        handled = handle_batch(session, config, box, batch, uidvalidity, readings())
    except SQLAlchemyError as exc:
        session.rollback()
        if not isinstance(exc, IntegrityError):
            raise  # the database is down or locked: stop here, the batch stays unprocessed
        handled = None
    except Exception:
        session.rollback()
        handled = None
    if handled is None:
        handled = [handle_email(session, config, box, key, raw, uidvalidity) for key, raw in batch]
    done, unreadable = [], []
    for (key, _), result in zip(batch, handled, strict=True):
        report.add(result.outcome)
        if result.reply:
            report.add("replies")
        (unreadable if result.outcome == "unreadable" else done).append(key)
    # After the commit. A crash before this only leaves stored mail unflagged; selection is by
    # UID, and unmoved leftovers move next cycle.
    source.mark_processed(done)
    source.mark_unreadable(unreadable)


def _unreadable_uids(
    session: Session, name: str, uidvalidity: int | None, uids: list[int]
) -> set[int]:
    if not uids:
        return set()
    rows = session.connection().execute(
        select(Message.uid).where(
            Message.mailbox == name,
            Message.uidvalidity == uidvalidity,
            Message.uid.in_(uids),
            Message.parse_error.is_not(None),
        )
    )
    return {uid for (uid,) in rows}


@dataclass
class Handled:
    outcome: str
    reply: str | None


def handle_batch(
    session: Session,
    config: Config,
    box: MailboxSettings,
    batch: list,
    uidvalidity: int | None,
    readings: list,
) -> list[Handled]:
    """Store a batch of emails, decide and queue their replies, advance the mailbox: one transaction.

    `readings` are the batch's read_or_error results. Raises on any failure, leaving the rollback
    (and the one-by-one retry) to the caller.
    """
    known = stored_copies(session, [raw for _, raw in batch], readings)
    candidates = {
        a for r in readings if not isinstance(r, str) for a in reply_candidates(r.mail, config)
    }
    replies_today = outbox.replies_since_each(session, candidates, _day_ago())
    results, queued = [], []
    for (key, raw), reading in zip(batch, readings, strict=True):
        uid = key if isinstance(key, int) else None
        stored = store_email(
            session,
            raw,
            config,
            mailbox=box.name,
            uid=uid,
            uidvalidity=uidvalidity,
            reading=reading,
            known=known,
        )
        decision = _act(session, config, stored, replies_today, queued)
        results.append((key, stored, decision))
    outbox.insert_queued(session, queued)
    uids = [key for key, _ in batch if isinstance(key, int)]
    if uids:
        _advance(session, box.name, max(uids))
    session.commit()
    for key, stored, decision in results:
        _log_handled(box, key, stored, decision)
    return [Handled(stored.outcome, decision.kind) for _, stored, decision in results]


def handle_email(
    session: Session, config: Config, box: MailboxSettings, key, raw: bytes, uidvalidity: int | None
) -> Handled:
    """Store one email, decide and queue its reply, advance the mailbox: one transaction."""
    uid = key if isinstance(key, int) else None
    try:
        stored = store_email(
            session, raw, config, mailbox=box.name, uid=uid, uidvalidity=uidvalidity
        )
        decision = _act(session, config, stored)
        _advance(session, box.name, uid)
        session.commit()
    except IntegrityError:
        # Another worker stored the same email a moment ago.
        session.rollback()
        _advance(session, box.name, uid)
        session.commit()
        stored, decision = Stored("duplicate"), Decision(None, "stored by another worker")
    except SQLAlchemyError:
        session.rollback()
        raise  # the database is down or locked: stop here, the email stays unprocessed
    except Exception:
        # A bug of ours while deciding or rendering must neither lose the email nor stop the batch.
        log.exception(
            "mailbox=%s uid=%s: cannot prepare the reply; storing the email without one",
            box.name,
            key,
        )
        session.rollback()
        stored = store_email(
            session, raw, config, mailbox=box.name, uid=uid, uidvalidity=uidvalidity
        )
        if stored.message_db_id and stored.outcome != "duplicate":
            _add_flag(session, stored.message_db_id, "reply_failed")
        _advance(session, box.name, uid)
        session.commit()
        decision = Decision(None, "reply could not be prepared")
    _log_handled(box, key, stored, decision)
    return Handled(stored.outcome, decision.kind)


def _act(
    session: Session,
    config: Config,
    stored: Stored,
    replies_today: dict | None = None,
    queued: list | None = None,
) -> Decision:
    """Decide what a stored email gets, and queue it in the open transaction (or in `queued`,
    for the batch to write before its commit)."""
    decision = _decision(session, config, stored, replies_today)
    if decision.flag:
        _add_flag(session, stored.message_db_id, decision.flag)
    if decision.kind:
        recipient = mailbox_of(_queue_reply(session, config, stored, decision.kind, queued))
        if replies_today is not None:
            replies_today[recipient] = replies_today.get(recipient, 0) + 1
    if stored.resolved_now:
        _queue_resolved_notice(session, config, stored)
    return decision


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


def _day_ago():
    return utcnow() - timedelta(days=1)


_ADVANCE = (
    update(MailboxState.__table__)
    .where(MailboxState.name == bindparam("box"), MailboxState.last_uid < bindparam("uid"))
    .values(last_uid=bindparam("uid"))
)


def _advance(session: Session, name: str, uid: int | None) -> None:
    if uid is not None:
        session.connection().execute(_ADVANCE, {"box": name, "uid": uid})


def _add_flag(session: Session, message_db_id: int, flag: str) -> None:
    message = session.get(Message, message_db_id)
    message.flags = [*message.flags, flag]
    session.add(message)


def _decision(
    session: Session, config: Config, stored: Stored, replies_today: dict | None = None
) -> Decision:
    """What the rules say of a stored email; `replies_today` holds the counts a batch looked up."""
    reading = stored.reading
    if reading is None or stored.ticket_id is None:
        return decide(Situation(outcome=stored.outcome))
    sender = reading.mail.from_address
    ticket = stored.ticket
    return decide(
        Situation(
            outcome=stored.outcome,
            auto_submitted=reading.auto_submitted,
            sender=sender,
            complete=ticket.complete,
            became_complete=stored.became_complete,
            changed_fields=bool(stored.changed),
            from_engineer=stored.engineer is not None,
            forged_engineer="forged_engineer" in stored.flags,
            on_thread="outside_thread" not in stored.flags,
            operator_domains=tuple(config.desk.operator_domains),
            replies_today=_replies_today(session, _recipient(config, stored), replies_today),
            daily_limit=config.desk.daily_reply_limit,
        )
    )


def _replies_today(session: Session, recipient: str, counted: dict | None) -> int:
    """Replies to `recipient`'s mailbox (its `+tag` removed) in the last day."""
    recipient = mailbox_of(recipient)
    if counted is not None and recipient in counted:
        return counted[recipient]
    return outbox.replies_since(session, recipient, _day_ago())


def _reply_to_allowed(address: str, mail, config: Config) -> bool:
    """Reply-To is honoured within From's domain or the operator domains, never to ourselves."""
    domain = domain_of(address)
    return (
        address not in set(config.desk.own_addresses)
        and bool(domain)
        and (
            domain == domain_of(mail.from_address)
            or domain in {d.lower() for d in config.desk.operator_domains}
        )
    )


def reply_candidates(mail, config: Config) -> set[str]:
    """Every mailbox a reply to `mail` may go to (to count the daily limit a batch at once)."""
    return {
        mailbox_of(a)
        for a in [mail.from_address, *mail.reply_to]
        if a == mail.from_address or _reply_to_allowed(a, mail, config)
    }


def reply_address(mail, config: Config, thread_addresses: list[str] | None = None) -> str:
    """Where a reply goes (SPEC §6a): to From, or to a Reply-To that _reply_to_allowed and, given
    the ticket's thread, is on it (a reply quotes the ticket: its data goes only to the thread)."""
    domains = config.desk.operator_domains
    for address in mail.reply_to:
        if _reply_to_allowed(address, mail, config) and (
            thread_addresses is None or threads.on_thread(address, thread_addresses, domains)
        ):
            return address
    return mail.from_address


def _recipient(config: Config, stored: Stored) -> str:
    return reply_address(stored.reading.mail, config, list(stored.ticket.thread_addresses))


def ticket_context(session: Session, ticket) -> dict:
    """What reply templates see of a ticket."""
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "template": ticket.template,
        "fields": ticket_fields(ticket),
        "missing": list(ticket.missing),
        "invalid": dict(ticket.invalid),
        "stop_codes": _stop_codes(session, ticket),
        "status": ticket.status,
        "engineer": ticket.engineer,
    }


def _stop_codes(session: Session, ticket) -> list[dict]:
    known = getattr(ticket, "stop_codes", None)  # a ticket just opened carries its own
    return stop_codes_of(session, ticket.id) if known is None else known


def _queue_resolved_notice(session: Session, config: Config, stored: Stored) -> None:
    """Tell the operator their ticket is resolved, on the thread of their latest email."""
    ticket = stored.ticket
    last = session.execute(
        select(Message)
        .where(
            Message.ticket_id == ticket.id,
            Message.direction == "in",
            Message.from_address == ticket.operator_address,
        )
        .order_by(Message.id.desc())
        .limit(1)
    ).scalar()
    if last is None or not ticket.operator_address:
        return
    from_address = config.outgoing.from_address
    message_id = make_message_id(domain_of(from_address) or "localhost")
    body = render_resolved(ticket_context(session, ticket), config.desk.template_dir or None)
    raw = compose_reply(
        body=body,
        from_address=from_address,
        to_address=ticket.operator_address,
        original_subject=ticket.subject,
        ticket_id=ticket.id,
        in_reply_to=last.message_id,
        references=list(last.references),
        message_id=message_id,
    )
    outbox.enqueue(
        session,
        kind="resolved_notice",
        raw=raw,
        message_id=message_id,
        recipient=ticket.operator_address,
        ticket_id=ticket.id,
        caused_by=stored.message_db_id,
        subject=reply_subject(ticket.subject, ticket.id),
        from_address=from_address,
    )
    log.info(
        "ticket %s resolved by %s: notice queued to the operator",
        ticket.id,
        stored.reading.mail.from_address,
    )


def _queue_reply(
    session: Session, config: Config, stored: Stored, kind: str, queued: list | None = None
) -> str:
    """Queue the reply `kind` to the email; the address it goes to."""
    mail = stored.reading.mail
    session.flush()
    context = ticket_context(session, stored.ticket)
    render = render_ack if kind == "ack" else render_request_info
    body = render(context, config.desk.template_dir or None)
    recipient = _recipient(config, stored)
    from_address = config.outgoing.from_address
    message_id = make_message_id(domain_of(from_address) or "localhost")
    raw = compose_reply(
        body=body,
        from_address=from_address,
        to_address=recipient,
        original_subject=mail.subject,
        ticket_id=stored.ticket_id,
        in_reply_to=mail.message_id,
        references=mail.references,
        message_id=message_id,
    )
    outbox.enqueue(
        session,
        kind=kind,
        raw=raw,
        message_id=message_id,
        recipient=recipient,
        ticket_id=stored.ticket_id,
        caused_by=stored.message_db_id,
        subject=reply_subject(mail.subject, stored.ticket_id),
        from_address=from_address,
        later=queued,
    )
    return recipient
