"""Follow-up on tickets waiting for operator information: one reminder, then on hold (SPEC §12)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, bindparam, exists, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import aliased
from sqlmodel import Session

from ingest.config import Config, parse_duration
from ingest.desk.queue import ticket_context
from ingest.reading.labels import span_zh
from ingest.rules.decide import Decision, decide, reminder_situation
from ingest.rules.threads import domain_of, mailbox_of, reply_subject
from ingest.store import db
from ingest.store.models import Message, Outbox, Ticket, TicketEvent, as_utc
from ingest.store.ticket_rows import view_of
from replies import outbox
from replies.compose import compose_reply, derived_message_id
from replies.render import render_reminder

log = logging.getLogger("gongdan.remind")

BY = "gongdan"  # who the history says moved a ticket on hold
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
    if w.complete or w.status in ("resolved", "on_hold") or w.asked_at is None or w.answered:
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
    failed: int = 0  # tickets that could not be followed up this run (logged); the next run tries

    def line(self) -> str:
        held = f"{self.on_hold} put on hold"
        extra = "".join(f", {n} not sent ({why})" for why, n in sorted(self.not_sent.items()))
        failed = f", {self.failed} failed" if self.failed else ""
        return f"remind: {self.reminders} reminders, {held}{extra}{failed}"


def remind_due(config: Config, engine: Engine, now: datetime | None = None) -> RemindReport:
    """Queue the reminders and on-hold notices due at `now` (default: the clock), one transaction
    per ticket. Safe beside another run: each is queued at most once (a Message-ID derived from
    its request, unique in the database, and a ticket row that must not have changed meanwhile)."""
    now = as_utc(now or datetime.now(UTC))
    remind_after = parse_duration(config.desk.remind_after)
    hold_after = parse_duration(config.desk.hold_after)
    report = RemindReport()
    with db.session(engine) as session:
        due = {"remind_before": now - remind_after, "hold_before": now - hold_after}
        ticket_ids = list(session.execute(_WAITING, due).scalars())
        session.rollback()
        for ticket_id in ticket_ids:
            _one_ticket(session, config, ticket_id, now, (remind_after, hold_after), report)
    if report.reminders or report.on_hold:
        log.info(report.line())
    return report


# Incomplete tickets, not closed or parked, with a request_info old enough for its reminder (and
# not reminded yet) or for the hold: a superset of those due, each then decided on its own. The
# others cannot be due, and a poll cycle runs this every minute.
_REQUEST, _REMINDER = aliased(Outbox), aliased(Outbox)
_WAITING = (
    select(Ticket.id)
    .where(
        Ticket.complete.is_(False),
        Ticket.status.not_in(("resolved", "on_hold")),
        Ticket.id.in_(
            select(_REQUEST.ticket_id).where(
                _REQUEST.kind == "request_info",
                or_(
                    _REQUEST.created_at <= bindparam("hold_before"),
                    and_(
                        _REQUEST.created_at <= bindparam("remind_before"),
                        ~exists().where(
                            _REMINDER.ticket_id == _REQUEST.ticket_id,
                            _REMINDER.kind == "reminder",
                            _REMINDER.caused_by == _REQUEST.caused_by,
                        ),
                    ),
                ),
            )
        ),
    )
    .order_by(Ticket.id)
)


class _Changed(Exception):
    """The ticket changed since we read it (an email stored, another run): look again."""


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
        except (_Changed, OperationalError) as exc:
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
            if refused:
                report.not_sent[refused] = report.not_sent.get(refused, 0) + 1
        return


def _follow_up_ticket(
    session: Session, config: Config, ticket_id: int, now: datetime, spans
) -> tuple[str, str | None] | None:
    """What was done in the open transaction: (action, why its mail was not sent) or None."""
    remind_after, hold_after = spans
    ticket = session.get(Ticket, ticket_id, populate_existing=True)
    request = session.execute(
        select(Outbox)
        .where(Outbox.ticket_id == ticket_id, Outbox.kind == "request_info")
        .order_by(Outbox.id.desc())
        .limit(1)
    ).scalar()
    asked = session.get(Message, request.caused_by) if request.caused_by else None
    if request.state != "sent" or asked is None:
        return None  # the request has not reached the operator yet: their wait has not begun
    later = _inbound_since(session, ticket_id, asked.id)
    engineers = {e.address.lower() for e in config.engineers}
    waiting = Waiting(
        status=ticket.status,
        complete=ticket.complete,
        asked_at=max(request.created_at, asked.received_at),
        answered=(answered := any(_is_answer(m, engineers) for m in later)),
        # An answer decides alone: these are not looked up then (a cycle meets such tickets often).
        reminded=not answered and _queued(session, ticket_id, "reminder", asked.id),
        held=not answered and _held_for(session, ticket_id, request.message_id),
    )
    action = follow_up(waiting, now, remind_after, hold_after)
    if action is None:
        return None
    recipient = request.to_addresses[0] if request.to_addresses else request.recipient
    gate = _gate(session, config, ticket, recipient, [asked, *later], now)
    _guard(session, ticket, now if action == "hold" else None)
    if action == "hold":
        _event_hold(session, config, ticket, request, now, gate)
    if gate.kind is None:
        log.info("ticket %s: %s not sent: %s", ticket_id, _KIND[action], gate.reason)
        return action, gate.reason
    _queue(session, config, ticket, request, asked, recipient, action, now, spans)
    log.info("ticket %s: %s queued to %s", ticket_id, _KIND[action], recipient)
    return action, None


_KIND = {"reminder": "reminder", "hold": "hold_notice"}  # the outbox kind of each action


def _inbound_since(session: Session, ticket_id: int, message_db_id: int) -> list[Message]:
    return list(
        session.execute(
            select(Message)
            .where(
                Message.ticket_id == ticket_id,
                Message.direction == "in",
                Message.id > message_db_id,
            )
            .order_by(Message.id)
        ).scalars()
    )


def _is_answer(message: Message, engineers: set[str]) -> bool:
    """Mail from the thread's people that can change the ticket: not automatic, not an
    engineer's, not from outside the thread."""
    return (
        not message.auto_submitted
        and not _NO_ANSWER & set(message.flags)
        and message.from_address.lower() not in engineers
    )


def _queued(session: Session, ticket_id: int, kind: str, caused_by: int) -> bool:
    found = select(Outbox.id).where(
        Outbox.ticket_id == ticket_id, Outbox.kind == kind, Outbox.caused_by == caused_by
    )
    return session.execute(found).first() is not None


def _held_for(session: Session, ticket_id: int, request_id: str) -> bool:
    """Has this request put the ticket on hold before (an engineer may have taken it off)?"""
    events = session.execute(
        select(TicketEvent.detail).where(
            TicketEvent.ticket_id == ticket_id,
            TicketEvent.kind == "status_changed",
            TicketEvent.by == BY,
        )
    ).scalars()
    return any((detail or {}).get("request") == request_id for detail in events)


def _gate(
    session: Session, config: Config, ticket: Ticket, recipient: str, mail: list, now: datetime
) -> Decision:
    """SPEC §6's rules for the address a reminder would go to (decide.reminder_situation): the
    daily limit counted as for any reply, the latest mail of that mailbox on the thread."""
    mailbox = mailbox_of(recipient)
    theirs = [m for m in mail if mailbox_of(m.from_address) == mailbox]
    replies_today = outbox.replies_since_each(session, {mailbox}, now - timedelta(days=1))
    return decide(
        reminder_situation(
            recipient,
            list(ticket.thread_addresses),
            config,
            replies_today[mailbox],
            last_was_automatic=bool(theirs and theirs[-1].auto_submitted),
        )
    )


def _guard(session: Session, ticket: Ticket, hold_at: datetime | None) -> None:
    """Lock the ticket's row, checking it is as we read it (no email stored on it meanwhile, no
    other run): else _Changed. With `hold_at`, also put it on hold."""
    values = {"status": "on_hold", "updated_at": hold_at} if hold_at else {"status": ticket.status}
    done = (
        session.connection()
        .execute(
            update(Ticket.__table__)
            .where(
                Ticket.id == ticket.id,
                Ticket.status == ticket.status,
                Ticket.updated_at == ticket.updated_at,
            )
            .values(**values)
        )
        .rowcount
    )
    if not done:
        raise _Changed


def _event_hold(
    session: Session, config: Config, ticket: Ticket, request: Outbox, now: datetime, gate
) -> None:
    detail = {
        "old": ticket.status,
        "new": "on_hold",
        "reason": f"no answer from the operator for {config.desk.hold_after}",
        "request": request.message_id,
        "notice": "queued" if gate.kind else f"not sent: {gate.reason}",
    }
    session.add(
        TicketEvent(ticket_id=ticket.id, at=now, kind="status_changed", by=BY, detail=detail)
    )


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
) -> None:
    """The reminder or notice, on the thread of the request it follows, in the open
    transaction."""
    remind_after, hold_after = spans
    kind = _KIND[action]
    from_address = config.outgoing.from_address
    # The same for every run following up this request: a second copy is refused.
    message_id = derived_message_id(kind, ticket.id, request.message_id, domain_of(from_address))
    body = render_reminder(
        ticket_context(session, view_of(ticket), stop_codes=[]),
        config.desk.template_dir or None,
        on_hold=action == "hold",
        waited=span_zh(now - request.created_at),
        hold_in=span_zh(hold_after - remind_after) if action == "reminder" else "",
    )
    raw = compose_reply(
        body=body,
        from_address=from_address,
        to_address=recipient,
        original_subject=asked.subject,
        ticket_id=ticket.id,
        in_reply_to=request.message_id,
        references=[*asked.references, asked.message_id],
        message_id=message_id,
        date=now,
    )
    outbox.enqueue(
        session,
        kind=kind,
        raw=raw,
        message_id=message_id,
        recipient=recipient,
        ticket_id=ticket.id,
        caused_by=asked.id,
        subject=reply_subject(asked.subject, ticket.id),
        from_address=from_address,
        now=now,
    )
