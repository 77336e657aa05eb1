"""Engineers hear of operators' follow-ups at once (SPEC §13): once a poll cycle, the follow-ups
it stored that say something, one notice per engineer listing their tickets (with none
assigned, to the [digest] recipients); never to an operator."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from ingest.config import Config
from ingest.reading.addresses import canonical_address
from ingest.rules.followups import new_text, says_something
from ingest.store import outbox
from ingest.store.db import Engine
from ingest.store.db import session as open_session
from ingest.store.notice_queries import followups_stored_at, tickets_by_id

# A poll runs this step every cycle, mostly with no follow-up stored: the reader and the notice's
# templates are imported by the functions below once there is one (issue 22).

log = logging.getLogger("gongdan.notices")

# Mail whose flags say it may change nothing on its ticket, or is no operator's.
_NOT_THE_OPERATORS = {"outside_thread", "forged_engineer", "bounce", "unreadable"}


def _said(message) -> tuple[str, bool]:
    """The new text of a stored mail (quotes removed), and whether it says something. Its raw
    bytes are parsed again only when the text alone says nothing: then an attachment decides."""
    text = new_text(message.text or "")
    if says_something(text):
        return text, True
    from ingest.reading.email_reader import read_email  # a follow-up to read (see the top)

    try:
        attachments = read_email(message.raw).attachments
    except Exception:  # stored already; a mail we cannot read again has no attachments to show
        attachments = []
    return text, says_something(text, attachments)


def recipients_of(ticket, config: Config) -> list[str]:
    """The ticket's engineer's address; with none assigned (or a name no longer configured) the
    digest's recipients. Never anyone on the ticket's thread who is not a configured engineer."""
    engineers = config.engineer_mailboxes
    by_name = {e.name: e.address for e in config.engineers}
    chosen = [by_name[ticket.engineer]] if ticket.engineer in by_name else []
    chosen = chosen or list(config.digest_recipients)
    thread = {canonical_address(a) for a in [ticket.operator_address, *ticket.thread_addresses]}
    return [
        a
        for a in dict.fromkeys(chosen)
        if canonical_address(a) in engineers or canonical_address(a) not in thread
    ]


def notify_engineers(config: Config, engine: Engine, now: datetime) -> int:
    """Queue this cycle's notices (the follow-ups stored at `now`); returns how many."""
    if not config.desk.notify_engineers:
        return 0
    engineers = config.engineer_mailboxes
    with open_session(engine) as session:
        news = defaultdict(list)
        for message in followups_stored_at(session, now):
            if set(message.flags or []) & _NOT_THE_OPERATORS:
                continue
            if canonical_address(message.from_address) in engineers:
                continue
            text, something = _said(message)
            if something:
                news[message.ticket_id].append(
                    {"at": message.received_at, "sender": message.from_address, "text": text}
                )
        tickets = tickets_by_id(session, list(news))
        by_recipient = defaultdict(list)
        for ticket_id, messages in news.items():
            ticket = tickets[ticket_id]
            for address in recipients_of(ticket, config):
                by_recipient[address].append(
                    {
                        "id": ticket.id,
                        "subject": ticket.subject,
                        "status": ticket.status,
                        "engineer": ticket.engineer,
                        "messages": messages,
                    }
                )
        from replies.engineer_notice import notice_mail  # a notice to send (see the top)

        for address, listed in by_recipient.items():
            name = engineers.get(canonical_address(address), "")
            outbox.enqueue(session, notice_mail(config, address, name, listed, now), now)
        session.commit()
    for address, listed in by_recipient.items():
        log.info("notice of %d ticket(s) queued to %s", len(listed), address)
    return len(by_recipient)
