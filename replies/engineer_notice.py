"""The notice that tells an engineer which tickets got an operator's follow-up (SPEC §13):
rendered from plain data, composed as a mail on no thread (notice_mail; queued by the caller)."""

from __future__ import annotations

from datetime import datetime, tzinfo

from ingest.config import Config
from ingest.reading.phones import mask_phones_in_text
from ingest.rules.followups import Notice
from ingest.rules.threads import subject_tag
from ingest.store.outbox import Outgoing
from ingest.store.times import as_utc
from replies.compose import build_message, make_address
from replies.digest_data import DISPLAY_TZ
from replies.digest_view import mailto
from replies.local_time import local_minute
from replies.outgoing import new_message_id, off_thread_mail
from replies.render import environment, status_zh

LINES_PER_MESSAGE = 20  # the rest is in `gongdan tickets show N`


def notice_subject(ticket_ids: list[int]) -> str:
    tags = "、".join(f"#{n}" for n in ticket_ids)
    return f"运营商来信待回复：工单{tags}"


def render_notice(
    name: str,
    tickets: list[dict],
    support_address: str,
    template_dir: str | None = None,
    tz: tzinfo = DISPLAY_TZ,
) -> str:
    """The notice to `name` listing `tickets`: each a dict of id, subject, status, engineer and
    messages (at, sender, text), with a reply link that prefills an empty ---答复 block; times
    in `tz` (the desk's zone) to the minute."""
    template = environment(template_dir).get_template("engineer_notice.txt.j2")
    rows = []
    for t in tickets:
        rows.append(
            {
                "tag": subject_tag(t["id"]),
                "subject": mask_phones_in_text(t["subject"] or ""),
                "status": status_zh(t["status"]),
                "mailto": mailto(support_address, t),
                "messages": [
                    {
                        "time": local_minute(as_utc(m["at"]), tz),
                        "sender": m["sender"],
                        "lines": mask_phones_in_text(m["text"]).split("\n")[:LINES_PER_MESSAGE],
                    }
                    for m in t["messages"]
                ],
            }
        )
    return template.render(name=name, tickets=rows)


def notice_mail(config: Config, notice: Notice, now: datetime) -> Outgoing:
    """`notice` (see render_notice) dated `now`, as a mail on no ticket's thread for the
    outbox."""
    support = config.outgoing.from_address
    subject = notice_subject([t["id"] for t in notice.tickets])
    body = render_notice(
        notice.name or "工程师",
        notice.tickets,
        support,
        config.desk.template_dir or None,
        config.desk.tz,
    )
    message_id = new_message_id(config)
    raw = compose_notice(
        body=body,
        subject=subject,
        from_address=support,
        to_address=notice.to,
        message_id=message_id,
        date=now,
    )
    return off_thread_mail(
        config,
        kind="engineer_notice",
        raw=raw,
        message_id=message_id,
        to=[notice.to],
        subject=subject,
    )


def compose_notice(
    *,
    body: str,
    subject: str,
    from_address: str,
    to_address: str,
    message_id: str,
    date: datetime,
) -> bytes:
    """A plain-text notice, `Auto-Submitted: auto-generated`, UTF-8."""
    return build_message(
        body=body,
        sender=make_address(from_address, "售后工单"),
        recipients=[make_address(to_address)],
        subject=subject,
        message_id=message_id,
        auto_submitted="auto-generated",
        date=date,
    ).as_bytes()
