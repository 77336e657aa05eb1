"""Engineers hear of operators' follow-ups at once (SPEC §13): once a poll cycle, the follow-ups
it stored that say something, one notice per engineer listing their tickets (with none
assigned, to the [digest] recipients); never to an operator."""

from __future__ import annotations

import logging
from datetime import datetime

from ingest.config import Config
from ingest.rules.followups import notices_of
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
    by_name = {e.name: e.address for e in config.engineers}
    with open_session(engine) as session:
        followups = followups_stored_at(session, now)
        tickets = tickets_by_id(session, [m.ticket_id for m in followups])
        notices = notices_of(
            followups, tickets, config.engineer_mailboxes, by_name, config.digest_recipients
        )
        from replies.engineer_notice import notice_mail  # a notice to send (see the top)

        for notice in notices:
            mail = notice_mail(config, notice, now)
            outbox.enqueue(session.connection(), mail, now)
        session.commit()
    for notice in notices:
        log.info("notice of %d ticket(s) queued to %s", len(notice.tickets), notice.to)
    return len(notices)
