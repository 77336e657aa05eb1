"""What a decision asks to send: the reply to a stored email, the notice that tells an operator
their ticket is resolved, an engineer's ---答复 relayed to the operator, and the note that tells
an engineer what their mail failed to say (built by replies.outgoing, queued by the caller, sent
by replies.send_stage)."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime

from ingest.config import Config
from ingest.rules.decide import Decision
from ingest.rules.stored import Stored, TicketView
from ingest.rules.threads import subject_tag, tagged_ticket
from ingest.store.db import Session
from ingest.store.outbox import Outgoing
from ingest.store.ticket_rows import last_mail_from, stop_codes_of
from replies.outgoing import reply_mail
from replies.render import (
    render_ack,
    render_answer,
    render_not_understood,
    render_request_info,
    render_resolved,
)

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
    if decision.answer_to:
        answer = _answer(session, config, stored, decision.answer_to, now)
        mails += [answer] if answer else []
    if decision.explain_to:
        mails.append(_not_understood(session, config, stored, decision, now))
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
    session.flush()
    context = ticket_context(session, stored.ticket, stored.stop_codes)
    # The template filled twice in one mail: the ack says only the first was taken (SPEC §3b).
    context["tickets_in_mail"] = stored.reading.tickets
    # Fields read from the mail's screenshots: the ack asks the operator to check them (SPEC §14).
    context["fields_from_images"] = stored.reading.fields_from_images
    body = _RENDER[kind](context, config.desk.template_dir or None)
    return _on_its_thread(config, stored, kind, body, to, now)


def _on_its_thread(
    config: Config, stored: Stored, kind: str, body: str, to: str, now: datetime
) -> Outgoing:
    """Our mail `body` to `to`, answering the stored mail itself."""
    mail = stored.reading.mail
    return reply_mail(
        config,
        kind=kind,
        body=body,
        to=to,
        ticket_id=stored.ticket_id,
        original_subject=mail.subject,
        in_reply_to=mail.message_id,
        references=mail.references,
        caused_by=stored.message_db_id,
        now=now,
    )


def _on_operators_thread(
    config: Config, stored: Stored, last, kind: str, body: str, to: str, now: datetime
) -> Outgoing:
    """Our mail `body` to the operator `to`, on the thread of their latest email `last`."""
    return reply_mail(
        config,
        kind=kind,
        body=body,
        to=to,
        ticket_id=stored.ticket.id,
        original_subject=stored.ticket.subject,
        in_reply_to=last.message_id,
        references=list(last.references),
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
    body = render_resolved(ticket_context(session, ticket), config.desk.template_dir or None)
    notice = _on_operators_thread(config, stored, last, "resolved_notice", body, to, now)
    log.info(
        "ticket %s resolved by %s: notice queued to the operator",
        ticket.id,
        stored.reading.mail.from_address,
    )
    return notice


def _answer(
    session: Session, config: Config, stored: Stored, to: str, now: datetime
) -> Outgoing | None:
    """An engineer's ---答复, from the support address to the operator `to`, on the thread of
    the operator's latest email, under the engineer's name (SPEC §13)."""
    ticket = stored.ticket
    last = last_mail_from(session, ticket.id, to)
    if last is None:
        log.warning("ticket %s: no email from its operator to answer; answer not sent", ticket.id)
        return None
    body = render_answer(
        ticket_context(session, ticket),
        config.desk.template_dir or None,
        text=stored.answer,
        name=stored.engineer.name,
    )
    log.info("ticket %s: %s's answer queued to the operator", ticket.id, stored.engineer.name)
    return _on_operators_thread(config, stored, last, "answer", body, to, now)


def _not_understood(
    session: Session, config: Config, stored: Stored, decision: Decision, now: datetime
) -> Outgoing:
    """Tell the engineer `decision.explain_to`, on their own mail's thread, what it failed to
    say and how to write it (SPEC §13)."""
    mail = stored.reading.mail
    tagged = tagged_ticket(mail.subject)
    body = render_not_understood(
        ticket_context(session, stored.ticket),
        config.desk.template_dir or None,
        problems=list(decision.not_understood),
        fields=stored.reading.fields,
        tag_written=subject_tag(tagged) if tagged is not None else "",
        names=[e.name for e in config.engineers],
        mail_subject=mail.subject,
    )
    log.info(
        "ticket %s: %s told what was not understood (%s)",
        stored.ticket_id,
        decision.explain_to,
        ", ".join(decision.not_understood),
    )
    return _on_its_thread(config, stored, "not_understood", body, decision.explain_to, now)
