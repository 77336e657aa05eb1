"""Engineers hear of operators' follow-ups at once (SPEC §13): once a poll cycle, the follow-ups
it stored that say something, one notice per engineer listing their tickets (with none
assigned, to the [digest] recipients); never to an operator."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime

from ingest.config import Config
from ingest.reading.addresses import canonical_address
from ingest.rules.followups import news_of, notice_recipients
from ingest.store import outbox
from ingest.store.db import Engine
from ingest.store.db import session as open_session
from ingest.store.notice_queries import followups_stored_at, tickets_by_id

# A poll runs this step every cycle, mostly with no follow-up stored: the reader and the notice's
# templates are imported by the functions below once there is one (issue 22).

log = logging.getLogger("gongdan.notices")


def notify_engineers(config: Config, engine: Engine, now: datetime) -> int:
    """Queue this cycle's notices (the follow-ups stored at `now`); returns how many."""
    if not config.desk.notify_engineers:
        return 0
    engineers = config.engineer_mailboxes
    by_name = {e.name: e.address for e in config.engineers}
    with open_session(engine) as session:
        news = defaultdict(list)
        for message in followups_stored_at(session, now):
            if (said := news_of(message, engineers)) is not None:
                news[message.ticket_id].append(said)
        tickets = tickets_by_id(session, list(news))
        by_recipient = defaultdict(list)
        for ticket_id, messages in news.items():
            ticket = tickets[ticket_id]
            recipients = notice_recipients(ticket, engineers, by_name, config.digest_recipients)
            for address in recipients:
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
