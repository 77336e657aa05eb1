"""Follow-up on tickets waiting for operator information: one reminder, then on hold (SPEC §12)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ingest.config import Config, parse_duration
from ingest.reading.addresses import canonical_address, mailbox_of
from ingest.reading.statuses import FINISHED
from ingest.store import db, followups, outbox
from ingest.store.db import IntegrityError, OperationalError, SQLAlchemyError
from ingest.store.followups import TicketChanged
from ingest.store.times import as_utc

if TYPE_CHECKING:
    from ingest.rules.decide import Decision
    from ingest.store.db import Connection, Engine, Row
    from ingest.store.followup_rows import Thread

# A poll runs this step every cycle and seldom finds a reminder due: the rules and the reply
# templates are imported by the functions below once one is (issue 22: a poll with no mail).

log = logging.getLogger("gongdan.remind")

ATTEMPTS = 3  # a ticket whose row another run changed meanwhile is looked at again, this often
CHUNK = 200  # tickets followed up in one transaction (read in a few queries, written in a few)
# Flags of inbound mail that is no answer from the operator (changes nothing on the ticket).
_NO_ANSWER = {"outside_thread", "forged_engineer", "unreadable"}


@dataclass(frozen=True)
class Waiting:
    """Where a ticket stands in its wait for the operator, as remind_due gathered it."""

    status: str
    complete: bool
    asked_at: datetime | None  # when the last request_info went out; None: none sent
    answered: bool = False  # the operator wrote on the thread since that request
    reminded: bool = False  # that request's reminder is queued already
    held: bool = False  # that request has put the ticket on hold once already


def follow_up(w: Waiting, now: datetime, remind_after: timedelta, hold_after: timedelta):
    """What a ticket needs at `now`: "reminder", "hold" or None (pure). Any answer stops the
    clock; a new request_info starts it again. One reminder per request; the hold comes when its
    time has come, with or without a reminder before."""
    if w.complete or w.status in (*FINISHED, "on_hold") or w.asked_at is None or w.answered:
        return None
    waited = now - w.asked_at
    if waited >= hold_after and not w.held:
        return "hold"
    if remind_after <= waited < hold_after and not w.reminded:
        return "reminder"
    return None


@dataclass
class RemindReport:
    reminders: int = 0  # reminders queued
    on_hold: int = 0  # tickets moved to on_hold (each with a notice, unless not_sent says why)
    not_sent: dict = field(default_factory=dict)  # why a reminder or notice was not queued -> n
    held: int = 0  # reminders and notices the daily limit holds back until a person releases them
    failed: int = 0  # tickets that could not be followed up this run (logged); the next run tries

    def line(self) -> str:
        held = f"{self.on_hold} put on hold"
        extra = "".join(f", {n} not sent ({why})" for why, n in sorted(self.not_sent.items()))
        failed = f", {self.failed} failed" if self.failed else ""
        if self.held:
            extra += f", {self.held} held back by the daily reply limit (gongdan outbox release)"
        return f"remind: {self.reminders} reminders, {held}{extra}{failed}"


@dataclass
class _Run:
    """What one run's transactions share."""

    config: Config
    now: datetime
    remind_after: timedelta
    hold_after: timedelta
    # The daily limit's counts, read once for the run (one pass over the last day's outbox, not
    # one a ticket) and kept as this run queues: replies in the last day per mailbox.
    counts: Counter
    engineers: set[str]  # canonical addresses: their mail is no answer from the operator
    report: RemindReport = field(default_factory=RemindReport)


@dataclass
class _Done:
    """What following up one ticket did, in the open transaction."""

    ticket: Row  # the ticket's row as read: written only if it is still so (followup_rows.guard)
    action: str  # "reminder" or "hold"
    recipient: str
    refused: str | None = None  # why its mail was not sent (HELD: kept back by the daily limit)
    mail: outbox.Outgoing | None = None  # the reminder or notice to queue
    hold: dict | None = None  # the history event's detail of a ticket put on hold


_KIND = {"reminder": "reminder", "hold": "hold_notice"}  # the outbox kind of each action
HELD = "held"  # what _Done.refused says of a mail the daily limit holds back


def remind_due(config: Config, engine: Engine, now: datetime) -> RemindReport:
    """Queue the reminders and on-hold notices due at `now`, CHUNK tickets a transaction (one
    ticket a transaction for a chunk that fails). Safe beside another run: each is queued at
    most once (a Message-ID derived from its request, unique in the database, and a ticket row
    that must not have changed meanwhile)."""
    now = as_utc(now)
    remind_after = parse_duration(config.desk.remind_after)
    hold_after = parse_duration(config.desk.hold_after)
    ticket_ids = followups.waiting_tickets(engine, now - remind_after, now - hold_after)
    if not ticket_ids:
        return RemindReport()
    with engine.connect() as conn:
        counts = outbox.replies_per_mailbox(conn, now - timedelta(days=1))
        conn.commit()
        engineers = config.engineer_mailboxes
        run = _Run(config, now, remind_after, hold_after, counts, engineers)
        for part in db.chunks(ticket_ids, CHUNK):
            _chunk(conn, run, part)
    if run.report.reminders or run.report.on_hold:
        log.info(run.report.line())
    return run.report


def _chunk(conn: Connection, run: _Run, ticket_ids: list[int]) -> None:
    """Follow up `ticket_ids` in one transaction. Should any of them fail (changed meanwhile,
    queued by another run, a bug of ours), the chunk is rolled back and taken again one ticket
    at a time, so that the failure is that ticket's alone (as poll.process_batch does)."""
    if len(ticket_ids) > 1:
        try:
            _transaction(conn, run, ticket_ids)
            return
        except Exception as exc:
            log.debug("%d tickets rolled back (%s); one at a time", len(ticket_ids), exc)
    for ticket_id in ticket_ids:
        _one_ticket(conn, run, ticket_id)


def _transaction(conn: Connection, run: _Run, ticket_ids: list[int]) -> None:
    """Follow up `ticket_ids` and commit, then count and log what was done. On any failure it
    is rolled back, with the daily limit's counts as they were before it, and raised."""
    counts = Counter(run.counts)
    try:
        done = _follow_up(conn, run, ticket_ids)
        conn.commit()
    except BaseException:
        conn.rollback()
        run.counts.clear()
        run.counts.update(counts)
        raise
    _tell(run.report, done)


def _one_ticket(conn: Connection, run: _Run, ticket_id: int) -> None:
    """Follow up one ticket in its own transaction; a failure is this ticket's alone."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _transaction(conn, run, [ticket_id])
        except IntegrityError:
            # Another run queued this very reminder or notice a moment ago: it is done.
            log.info("ticket %s: followed up by another run meanwhile", ticket_id)
        except (TicketChanged, OperationalError) as exc:
            # SQLite refuses a write from a read that another writer overtook; PostgreSQL's row
            # changed under us. Read again: what the other run did decides.
            log.debug("ticket %s changed while read (%s); reading it again", ticket_id, exc)
            if attempt < ATTEMPTS:
                continue
            if isinstance(exc, OperationalError):
                raise
            log.warning("ticket %s kept changing while followed up; next run", ticket_id)
            run.report.failed += 1
        except SQLAlchemyError:
            raise  # the database is down: the run stops, the next one takes it again
        except Exception:  # a bug of ours on an odd ticket must not stop the others
            log.exception("ticket %s: cannot follow it up; next run tries again", ticket_id)
            run.report.failed += 1
        return


def _tell(report: RemindReport, done: list[_Done]) -> None:
    """Count and log what a committed transaction did."""
    for d in done:
        report.on_hold += d.action == "hold"
        report.reminders += d.action == "reminder" and not d.refused
        report.held += d.refused == HELD
        if d.refused and d.refused != HELD:
            report.not_sent[d.refused] = report.not_sent.get(d.refused, 0) + 1
            log.info("ticket %s: %s not sent: %s", d.ticket.id, _KIND[d.action], d.refused)
        else:
            queued = "held" if d.refused else "queued"
            log.info("ticket %s: %s %s to %s", d.ticket.id, _KIND[d.action], queued, d.recipient)


def _follow_up(conn: Connection, run: _Run, ticket_ids: list[int]) -> list[_Done]:
    """Follow up `ticket_ids` in the open transaction: read in a few queries for all of them,
    written in a few statements (the guarded rows, the holds' events, the mails)."""
    from ingest.store import followup_rows  # one may be due (see the top)

    threads = followup_rows.gather(conn, ticket_ids)
    done = [d for thread in threads if (d := _decide(run, thread)) is not None]
    holds = [d for d in done if d.hold is not None]
    followup_rows.guard(conn, [d.ticket for d in done], {d.ticket.id: run.now for d in holds})
    followup_rows.record_holds(conn, [(d.ticket.id, run.now, d.hold) for d in holds])
    outbox.enqueue_many(conn, [d.mail for d in done if d.mail is not None], run.now)
    return done


def _decide(run: _Run, thread: Thread) -> _Done | None:
    """What one ticket needs, with its mail composed (None: nothing); counted against the daily
    limit at once (a rollback restores the counts)."""
    ticket, request, asked = thread.ticket, thread.request, thread.asked
    if request.state != "sent" or asked is None:
        return None  # the request has not reached the operator yet: their wait has not begun
    answered = any(_is_answer(m, run.engineers) for m in thread.later)
    waiting = Waiting(
        status=ticket.status,
        complete=ticket.complete,
        asked_at=max(request.created_at, asked.received_at),
        answered=answered,
        reminded=not answered and thread.reminded,
        held=not answered and thread.held,
    )
    action = follow_up(waiting, run.now, run.remind_after, run.hold_after)
    if action is None:
        return None
    recipient = request.to_addresses[0] if request.to_addresses else request.recipient
    gate = _gate(run.config, ticket, recipient, [asked, *thread.later], run.counts)
    done = _Done(ticket, action, recipient)
    if action == "hold":
        done.hold = _hold_detail(run.config, ticket, request, gate)
    if gate.kind is None and not gate.withheld:
        done.refused = gate.reason
        return done
    # Over the daily limit it is kept `held` until a person releases it (SPEC §6b); held, it
    # counts as this request's reminder, so the next run does not make another.
    held = "" if gate.kind else gate.reason
    done.mail = _mail(run, thread, recipient, action, held)
    if held:
        done.refused = HELD
    else:
        run.counts[mailbox_of(recipient)] += 1
    return done


def _is_answer(message: Row, engineers: set[str]) -> bool:
    """Mail from the thread's people that can change the ticket: not automatic, not an
    engineer's, not from outside the thread."""
    return (
        not message.auto_submitted
        and not _NO_ANSWER & set(message.flags)
        and canonical_address(message.from_address) not in engineers
    )


def _gate(config: Config, ticket: Row, recipient: str, mail: list, counts: Counter) -> Decision:
    """SPEC §6's rules for the address a reminder would go to (decide.reminder_situation): the
    daily limit counted as for any reply (`counts`: replies in the last day per mailbox), the
    latest mail of that mailbox on the thread."""
    from ingest.rules.decide import decide, reminder_situation  # one is due (see the top)

    mailbox = mailbox_of(recipient)
    theirs = [m for m in mail if mailbox_of(m.from_address) == mailbox]
    return decide(
        reminder_situation(
            recipient,
            list(ticket.thread_addresses),
            config,
            counts[mailbox],
            last_was_automatic=bool(theirs and theirs[-1].auto_submitted),
        )
    )


def _hold_detail(config: Config, ticket: Row, request: Row, gate: Decision) -> dict:
    return {
        "old": ticket.status,
        "new": "on_hold",
        "reason": f"no answer from the operator for {config.desk.hold_after}",
        "request": request.message_id,
        "notice": "queued"
        if gate.kind
        else ("held" if gate.withheld else f"not sent: {gate.reason}"),
    }


def _mail(run: _Run, thread: Thread, recipient: str, action: str, held: str) -> outbox.Outgoing:
    """The reminder or notice, on the thread of the request it follows (kept `held` for that
    reason when the daily limit withholds it)."""
    # Loaded once one is due (see the top).
    from ingest.rules.stored import view_of
    from replies.compose import derived_message_id
    from replies.outgoing import reply_mail
    from replies.render import render_reminder, ticket_context

    config, ticket, request, asked = run.config, thread.ticket, thread.request, thread.asked
    kind = _KIND[action]
    body = render_reminder(
        ticket_context(view_of(ticket), stop_codes=[]),
        config.desk.template_dir or None,
        on_hold=action == "hold",
        waited=run.now - request.created_at,
        hold_in=run.hold_after - run.remind_after if action == "reminder" else None,
    )
    mail = reply_mail(
        config,
        kind=kind,
        body=body,
        to=recipient,
        ticket_id=ticket.id,
        original_subject=asked.subject,
        in_reply_to=request.message_id,
        references=[*asked.references, asked.message_id],
        caused_by=asked.id,
        now=run.now,
        # The same for every run following up this request: a second copy is refused.
        message_id=derived_message_id(
            kind, ticket.id, request.message_id, config.outgoing.message_domain
        ),
    )
    return replace(mail, held=held)
