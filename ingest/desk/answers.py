"""What a decision asks to send: the reply to a stored email, the notice that tells an operator
their ticket is resolved, an engineer's ---答复 relayed to the operator, and the note that tells
an engineer what their mail failed to say. Each is first a Wanted reply, from what the store
holds of the ticket; then replies.outgoing writes them all; the caller queues them."""

from __future__ import annotations

import logging
from datetime import datetime

from ingest.config import Config
from ingest.rules.decide import Decision
from ingest.rules.stored import Stored
from ingest.rules.threads import subject_tag, tagged_ticket
from ingest.store.db import Session
from ingest.store.outbox import Outgoing
from ingest.store.ticket_rows import last_mails_from, stop_codes_of
from replies.outgoing import Wanted, written
from replies.render import ticket_context

log = logging.getLogger("gongdan.poll")


def answers_to(
    session: Session,
    config: Config,
    stored: Stored,
    decision: Decision,
    now: datetime,
) -> list[Outgoing]:
    """The reply `decision` asks for (or the one it withholds, held), the resolved notice, the
    relayed answer and the engineer's note, written as of `now` for the caller to queue."""
    others = decision.notify or decision.answer_to or decision.explain_to
    if not (decision.kind or decision.withheld or others):
        return []
    session.flush()
    # The reply shows the codes this mail stored (None: it may change nothing); any other mail,
    # and a reply to such a mail, all the ticket's.
    codes = stored.stop_codes
    if others or codes is None:
        codes = stop_codes_of(session, stored.ticket.id)
    ticket = ticket_context(stored.ticket, codes)
    operators = [a for a in (decision.notify, decision.answer_to) if a]
    latest = last_mails_from(session, stored.ticket.id, operators) if operators else {}
    wanted = [
        *_reply(stored, decision, ticket),
        *_resolved_notice(stored, decision.notify, latest, ticket),
        *_answer(stored, decision.answer_to, latest, ticket),
        *_not_understood(config, stored, decision, ticket),
    ]
    return written(config, wanted, now)


def _on_its_thread(stored: Stored, kind: str, to: str, ticket: dict, **more) -> Wanted:
    """A reply to `to` answering the stored mail itself."""
    mail = stored.reading.mail
    return Wanted(
        kind,
        to,
        ticket,
        mail.subject,
        mail.message_id,
        mail.references,
        stored.message_db_id,
        **more,
    )


def _on_operators_thread(stored: Stored, kind: str, to: str, last, ticket: dict, **more) -> Wanted:
    """A mail to the operator `to` on the thread of their latest email `last`."""
    return Wanted(
        kind,
        to,
        ticket,
        stored.ticket.subject,
        last.message_id,
        list(last.references),
        stored.message_db_id,
        **more,
    )


def _reply(stored: Stored, decision: Decision, ticket: dict) -> list[Wanted]:
    kind = decision.kind or decision.withheld
    if not kind:
        return []
    reading = stored.reading
    # The template filled twice in one mail: the ack says only the first was taken (SPEC §3b).
    # Fields read from the mail's screenshots: the ack asks the operator to check them (§14).
    ticket = {
        **ticket,
        "stop_codes": stored.stop_codes if stored.stop_codes is not None else ticket["stop_codes"],
        "tickets_in_mail": reading.tickets,
        "fields_from_images": reading.fields_from_images,
    }
    held = "" if decision.kind else decision.reason
    return [_on_its_thread(stored, kind, decision.to, ticket, held=held)]


def _resolved_notice(stored: Stored, to: str, latest: dict, ticket: dict) -> list[Wanted]:
    """Tell the operator `to` their ticket is resolved, on the thread of their latest email."""
    if not to or latest.get(to) is None:
        return []
    log.info(
        "ticket %s resolved by %s: notice queued to the operator",
        stored.ticket.id,
        stored.reading.mail.from_address,
    )
    return [_on_operators_thread(stored, "resolved_notice", to, latest[to], ticket)]


def _answer(stored: Stored, to: str, latest: dict, ticket: dict) -> list[Wanted]:
    """An engineer's ---答复, from the support address to the operator `to`, on the thread of
    the operator's latest email, under the engineer's name (SPEC §13)."""
    if not to:
        return []
    if latest.get(to) is None:
        log.warning(
            "ticket %s: no email from its operator to answer; answer not sent", stored.ticket.id
        )
        return []
    name = stored.engineer.name
    log.info("ticket %s: %s's answer queued to the operator", stored.ticket.id, name)
    extra = {"text": stored.answer, "name": name}
    return [_on_operators_thread(stored, "answer", to, latest[to], ticket, extra=extra)]


def _not_understood(
    config: Config, stored: Stored, decision: Decision, ticket: dict
) -> list[Wanted]:
    """Tell the engineer `decision.explain_to`, on their own mail's thread, what it failed to
    say and how to write it (SPEC §13)."""
    if not decision.explain_to:
        return []
    mail = stored.reading.mail
    tagged = tagged_ticket(mail.subject)
    extra = {
        "problems": list(decision.not_understood),
        "fields": stored.reading.fields,
        "tag_written": subject_tag(tagged) if tagged is not None else "",
        "names": [e.name for e in config.engineers],
        "mail_subject": mail.subject,
    }
    log.info(
        "ticket %s: %s told what was not understood (%s)",
        stored.ticket_id,
        decision.explain_to,
        ", ".join(decision.not_understood),
    )
    return [_on_its_thread(stored, "not_understood", decision.explain_to, ticket, extra=extra)]
