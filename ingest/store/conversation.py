"""The conversation after the first reply (SPEC §13): who a ticket waits on, and reopening.

Two stages of the store step (ingest.store.tickets.STAGES) live here: judge_follow_up, before
the ticket is opened or joined, and wait_on, after (automatic mail's ticket is opened closed by
ingest.store.ticket_rows.new_ticket). `answered_by_team` is what an
engineer's answer on the thread does to a ticket, whoever relays it.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session

from ingest.config.durations import parse_duration
from ingest.reading.quoting import new_text
from ingest.rules import followups
from ingest.store.models import Ticket, as_utc
from ingest.store.ticket_rows import event


def answered_by_team(session: Session, ticket: Ticket, now: datetime) -> None:
    """An engineer answered on the thread: the ticket waits for the team no longer."""
    if ticket.waiting_on == "team":
        ticket.waiting_on = None
        session.add(ticket)


def _operator_follow_up(intake) -> bool:
    """A person on the thread wrote, not automatically and not as an engineer (a forged engineer
    is on no thread)."""
    return not (
        intake.outside
        or intake.forged
        or intake.sender.engineer is not None
        or intake.reading.auto_submitted
    )


def judge_follow_up(session: Session, intake) -> None:
    """Does a follow-up from the thread say something, and does it reopen its ticket? One that
    comes too late to reopen opens a new ticket naming the old one."""
    ticket = intake.ticket
    if ticket is None or not _operator_follow_up(intake):
        return
    mail = intake.reading.mail
    intake.says = followups.says_something(new_text(mail.body), mail.attachments)
    if not intake.says:
        return
    within = parse_duration(intake.config.desk.reopen_within)
    intake.reopen = followups.reopen(
        ticket.status, as_utc(ticket.updated_at), as_utc(intake.now), within
    )
    if intake.reopen == "new":
        intake.related, intake.ticket = [ticket.id], None


def wait_on(session: Session, intake) -> None:
    """Set whom the ticket waits on after this mail, and reopen it when judge_follow_up said so."""
    if intake.ticket is None:
        if intake.related:
            row = session.get(Ticket, intake.written.id)
            row.related = list(intake.related)
            session.add(row)
        return
    ticket = intake.ticket
    if intake.sender.engineer is not None and not intake.reading.auto_submitted:
        answered_by_team(session, ticket, intake.now)
    elif _operator_follow_up(intake):
        if intake.reopen == "reopen":
            by = intake.reading.mail.from_address
            event(session, intake.now, ticket.id, "reopened", by, old=ticket.status)
            ticket.status = "in_progress"
        ticket.waiting_on = followups.waiting_after(
            ticket.waiting_on,
            says=intake.says,
            became_complete=intake.became_complete,
            changed_fields=bool(intake.changed),
            complete=ticket.complete,
        )
    if ticket.status == "resolved":
        ticket.waiting_on = None
    session.add(ticket)
