"""What a decision asks to send: the reply to a stored email, and the notice that tells an
operator their ticket is resolved (built by replies.outgoing, queued by the caller, sent by
replies.send_stage)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from ingest.config import Config
from ingest.rules.decide import Decision
from ingest.rules.stored import Stored, TicketView
from ingest.store.db import Session
from ingest.store.outbox import Outgoing
from ingest.store.ticket_rows import last_mail_from, stop_codes_of
from replies.outgoing import reply_mail
from replies.render import render_ack, render_request_info, render_resolved

log = logging.getLogger("gongdan.poll")

_RENDER = {"ack": render_ack, "request_info": render_request_info}


def answers_to(
    session: Session,
    config: Config,
    stored: Stored,
    decision: Decision,
    now: datetime,
) -> list[Outgoing]:
    """The reply `decision` asks for (or the one it withholds, held) and the resolved notice, as
    of `now`, for the caller to queue."""
    mails = []
    if decision.kind:
        mails.append(_reply(session, config, stored, decision.kind, decision.to, now))
    elif decision.withheld:
        reply = _reply(session, config, stored, decision.withheld, decision.to, now)
        mails.append(replace(reply, held=decision.reason))
    if decision.notify:
        notice = _resolved_notice(session, config, stored, decision.notify, now)
        mails += [notice] if notice else []
    return mails


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


def _reply(
    session: Session,
    config: Config,
    stored: Stored,
    kind: str,
    to: str,
    now: datetime,
) -> Outgoing:
    mail = stored.reading.mail
    session.flush()
    context = ticket_context(session, stored.ticket, stored.stop_codes)
    # The template filled twice in one mail: the ack says only the first was taken (SPEC §3b).
    context["tickets_in_mail"] = stored.reading.tickets if stored.reading else 1
    return reply_mail(
        config,
        kind=kind,
        body=_RENDER[kind](context, config.desk.template_dir or None),
        to=to,
        ticket_id=stored.ticket_id,
        original_subject=mail.subject,
        in_reply_to=mail.message_id,
        references=mail.references,
        caused_by=stored.message_db_id,
        now=now,
    )


def _resolved_notice(
    session: Session, config: Config, stored: Stored, to: str, now: datetime
) -> Outgoing | None:
    """Tell the operator `to` their ticket is resolved, on the thread of their latest email."""
    ticket = stored.ticket
    last = last_mail_from(session, ticket.id, to)
    if last is None:
        return None
    notice = reply_mail(
        config,
        kind="resolved_notice",
        body=render_resolved(ticket_context(session, ticket), config.desk.template_dir or None),
        to=to,
        ticket_id=ticket.id,
        original_subject=ticket.subject,
        in_reply_to=last.message_id,
        references=list(last.references),
        caused_by=stored.message_db_id,
        now=now,
    )
    log.info(
        "ticket %s resolved by %s: notice queued to the operator",
        ticket.id,
        stored.reading.mail.from_address,
    )
    return notice
