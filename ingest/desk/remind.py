"""Follow-up on tickets waiting for operator information: one reminder, then on hold (SPEC §12)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ingest.config import Config, parse_duration
from ingest.reading.addresses import canonical_address, domain_of, mailbox_of
from ingest.reading.statuses import FINISHED
from ingest.store import db, followups, outbox
from ingest.store.db import Engine, IntegrityError, OperationalError, SQLAlchemyError
from ingest.store.followups import TicketChanged
from ingest.store.times import as_utc

if TYPE_CHECKING:
    from ingest.rules.decide import Decision
    from ingest.store.db import Session
    from ingest.store.models import Message, Outbox, Ticket

# A poll runs this step every cycle and seldom finds a reminder due: the rules and the reply
# templates are imported by the functions below once one is (issue 22: a poll with no mail).

log = logging.getLogger("gongdan.remind")

ATTEMPTS = 3  # a ticket whose row another run changed meanwhile is looked at again, this often
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


def remind_due(config: Config, engine: Engine, now: datetime) -> RemindReport:
    """Queue the reminders and on-hold notices due at `now`, one transaction
    per ticket. Safe beside another run: each is queued at most once (a Message-ID derived from
    its request, unique in the database, and a ticket row that must not have changed meanwhile)."""
    now = as_utc(now)
    remind_after = parse_duration(config.desk.remind_after)
    hold_after = parse_duration(config.desk.hold_after)
    report = RemindReport()
    ticket_ids = followups.waiting_tickets(engine, now - remind_after, now - hold_after)
    if not ticket_ids:
        return report
    with db.session(engine) as session:
        # The daily limit's counts, read once for the run (one pass over the last day's outbox,
        # not one a ticket) and kept as this run queues: (remind_after, hold_after, counts).
        counts = outbox.replies_per_mailbox(session, now - timedelta(days=1))
        session.commit()
        for ticket_id in ticket_ids:
            _one_ticket(session, config, ticket_id, now, (remind_after, hold_after, counts), report)
    if report.reminders or report.on_hold:
        log.info(report.line())
    return report


def _one_ticket(
    session: Session, config: Config, ticket_id: int, now: datetime, spans, report: RemindReport
) -> None:
    """Follow up one ticket in its own transaction; a failure is this ticket's alone."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            done = _follow_up_ticket(session, config, ticket_id, now, spans)
            session.commit()
        except IntegrityError:
            # Another run queued this very reminder or notice a moment ago: it is done.
            session.rollback()
            log.info("ticket %s: followed up by another run meanwhile", ticket_id)
            return
        except (TicketChanged, OperationalError) as exc:
            # SQLite refuses a write from a read that another writer overtook; PostgreSQL's row
            # changed under us. Read again: what the other run did decides.
            session.rollback()
            log.debug("ticket %s changed while read (%s); reading it again", ticket_id, exc)
            if attempt < ATTEMPTS:
                continue
            if isinstance(exc, OperationalError):
                raise
            log.warning("ticket %s kept changing while followed up; next run", ticket_id)
            report.failed += 1
            return
        except SQLAlchemyError:
            session.rollback()
            raise  # the database is down: the run stops, the next one takes it again
        except Exception:  # a bug of ours on an odd ticket must not stop the others
            session.rollback()
            log.exception("ticket %s: cannot follow it up; next run tries again", ticket_id)
            report.failed += 1
            return
        if done:
            action, refused = done
            report.on_hold += action == "hold"
            report.reminders += action == "reminder" and not refused
            report.held += refused == HELD
            if refused and refused != HELD:
                report.not_sent[refused] = report.not_sent.get(refused, 0) + 1
        return


def _follow_up_ticket(
    session: Session, config: Config, ticket_id: int, now: datetime, spans
) -> tuple[str, str | None] | None:
    """What was done in the open transaction: (action, why its mail was not sent) or None."""
    remind_after, hold_after, counts = spans
    ticket, request, asked = followups.latest_request(session, ticket_id)
    if request.state != "sent" or asked is None:
        return None  # the request has not reached the operator yet: their wait has not begun
    later = followups.inbound_since(session, ticket_id, asked.id)
    engineers = {canonical_address(e.address) for e in config.engineers}
    waiting = Waiting(
        status=ticket.status,
        complete=ticket.complete,
        asked_at=max(request.created_at, asked.received_at),
        answered=(answered := any(_is_answer(m, engineers) for m in later)),
        # An answer decides alone: these are not looked up then (a cycle meets such tickets often).
        reminded=not answered and followups.queued(session, ticket_id, "reminder", asked.id),
        held=not answered and followups.held_for(session, ticket_id, request.message_id),
    )
    action = follow_up(waiting, now, remind_after, hold_after)
    if action is None:
        return None
    recipient = request.to_addresses[0] if request.to_addresses else request.recipient
    gate = _gate(config, ticket, recipient, [asked, *later], counts)
    followups.guard(session, ticket, now if action == "hold" else None)
    if action == "hold":
        followups.record_hold(session, ticket, now, _hold_detail(config, ticket, request, gate))
    if gate.kind is None and not gate.withheld:
        log.info("ticket %s: %s not sent: %s", ticket_id, _KIND[action], gate.reason)
        return action, gate.reason
    # Over the daily limit it is kept `held` until a person releases it (SPEC §6b); held, it
    # counts as this request's reminder, so the next run does not make another.
    held = "" if gate.kind else gate.reason
    _queue(session, config, ticket, request, asked, recipient, action, now, spans, held)
    if not held:  # counted at once: a rollback after this only makes the limit stricter
        counts[mailbox_of(recipient)] += 1
    log.info(
        "ticket %s: %s %s to %s", ticket_id, _KIND[action], "held" if held else "queued", recipient
    )
    return action, HELD if held else None


_KIND = {"reminder": "reminder", "hold": "hold_notice"}  # the outbox kind of each action
HELD = "held"  # what _follow_up_ticket says of a mail the daily limit holds back


def _is_answer(message: Message, engineers: set[str]) -> bool:
    """Mail from the thread's people that can change the ticket: not automatic, not an
    engineer's, not from outside the thread."""
    return (
        not message.auto_submitted
        and not _NO_ANSWER & set(message.flags)
        and canonical_address(message.from_address) not in engineers
    )


def _gate(config: Config, ticket: Ticket, recipient: str, mail: list, counts: Counter) -> Decision:
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


def _hold_detail(config: Config, ticket: Ticket, request: Outbox, gate: Decision) -> dict:
    return {
        "old": ticket.status,
        "new": "on_hold",
        "reason": f"no answer from the operator for {config.desk.hold_after}",
        "request": request.message_id,
        "notice": "queued"
        if gate.kind
        else ("held" if gate.withheld else f"not sent: {gate.reason}"),
    }


def _queue(
    session: Session,
    config: Config,
    ticket: Ticket,
    request: Outbox,
    asked: Message,
    recipient: str,
    action: str,
    now: datetime,
    spans,
    held: str = "",
) -> None:
    """The reminder or notice, on the thread of the request it follows, in the open
    transaction (kept `held` for that reason when the daily limit withholds it)."""
    # Loaded once one is due (see the top).
    from ingest.desk.answers import ticket_context
    from ingest.store.ticket_rows import view_of
    from replies.compose import derived_message_id
    from replies.outgoing import queue_reply
    from replies.render import render_reminder

    remind_after, hold_after, _ = spans
    kind = _KIND[action]
    domain = domain_of(config.outgoing.from_address)
    body = render_reminder(
        ticket_context(session, view_of(ticket), stop_codes=[]),
        config.desk.template_dir or None,
        on_hold=action == "hold",
        waited=now - request.created_at,
        hold_in=hold_after - remind_after if action == "reminder" else None,
    )
    queue_reply(
        session,
        config,
        kind=kind,
        body=body,
        to=recipient,
        ticket_id=ticket.id,
        original_subject=asked.subject,
        in_reply_to=request.message_id,
        references=[*asked.references, asked.message_id],
        caused_by=asked.id,
        now=now,
        held=held,
        # The same for every run following up this request: a second copy is refused.
        message_id=derived_message_id(kind, ticket.id, request.message_id, domain),
    )
