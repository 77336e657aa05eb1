"""Queue what a decision asks for: the reply to a stored email, and the notice that tells an
operator their ticket is resolved (sent later by replies.send_stage)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlmodel import Session

from ingest.config import Config
from ingest.rules.decide import Decision
from ingest.rules.stored import Stored, TicketView
from ingest.rules.threads import domain_of, reply_subject
from ingest.store.models import Message
from ingest.store.ticket_rows import stop_codes_of
from replies import outbox
from replies.compose import compose_reply, make_message_id
from replies.render import render_ack, render_request_info, render_resolved

log = logging.getLogger("gongdan.poll")

_RENDER = {"ack": render_ack, "request_info": render_request_info}


def queue(
    session: Session, config: Config, stored: Stored, decision: Decision, later: list
) -> None:
    """Queue the reply `decision` asks for in `later` (the batch writes them before its commit),
    and the resolved notice in the open transaction."""
    if decision.kind:
        _queue_reply(session, config, stored, decision, later)
    if decision.notify:
        _queue_resolved_notice(session, config, stored, decision.notify)


def ticket_context(
    session: Session, ticket: TicketView, stop_codes: list[dict] | None = None
) -> dict:
    """What reply templates see of a ticket (`stop_codes` when known, else read)."""
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "template": ticket.template,
        "fields": dict(ticket.fields),
        "missing": list(ticket.missing),
        "invalid": dict(ticket.invalid),
        "stop_codes": stop_codes_of(session, ticket.id) if stop_codes is None else stop_codes,
        "status": ticket.status,
        "engineer": ticket.engineer,
    }


def _queue_reply(
    session: Session, config: Config, stored: Stored, decision: Decision, later: list
) -> None:
    mail = stored.reading.mail
    session.flush()
    context = ticket_context(session, stored.ticket, stored.stop_codes)
    body = _RENDER[decision.kind](context, config.desk.template_dir or None)
    from_address = config.outgoing.from_address
    message_id = make_message_id(domain_of(from_address) or "localhost")
    raw = compose_reply(
        body=body,
        from_address=from_address,
        to_address=decision.to,
        original_subject=mail.subject,
        ticket_id=stored.ticket_id,
        in_reply_to=mail.message_id,
        references=mail.references,
        message_id=message_id,
    )
    outbox.enqueue(
        session,
        kind=decision.kind,
        raw=raw,
        message_id=message_id,
        recipient=decision.to,
        ticket_id=stored.ticket_id,
        caused_by=stored.message_db_id,
        subject=reply_subject(mail.subject, stored.ticket_id),
        from_address=from_address,
        later=later,
    )


def _queue_resolved_notice(session: Session, config: Config, stored: Stored, to: str) -> None:
    """Tell the operator `to` their ticket is resolved, on the thread of their latest email."""
    ticket = stored.ticket
    last = session.execute(
        select(Message)
        .where(
            Message.ticket_id == ticket.id,
            Message.direction == "in",
            Message.from_address == to,
        )
        .order_by(Message.id.desc())
        .limit(1)
    ).scalar()
    if last is None:
        return
    from_address = config.outgoing.from_address
    message_id = make_message_id(domain_of(from_address) or "localhost")
    body = render_resolved(ticket_context(session, ticket), config.desk.template_dir or None)
    raw = compose_reply(
        body=body,
        from_address=from_address,
        to_address=to,
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
        recipient=to,
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
