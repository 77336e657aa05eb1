"""`gongdan status`: is the desk healthy? Mailbox cycles, outbox, database revision (SPEC §11)."""

from __future__ import annotations

from datetime import datetime, timedelta

from ingest.config import Config
from ingest.config.checks import public_operator_domains
from ingest.desk.findings import Finding
from ingest.reading import screenshots
from ingest.store.db import Connection
from ingest.store.health import (
    MailboxRecord,
    OutboxRecord,
    mailbox_records,
    outbox_record,
    unreadable_since,
)
from ingest.store.models import iso
from ingest.store.outbox import DRAIN_STATE, FIRST_RETRY

HEALTHY, DEGRADED, BROKEN = 0, 1, 2
BOUNCED = timedelta(days=7)  # bounced replies counted by `gongdan status`
UNREADABLE = timedelta(days=7)  # emails kept unreadable counted by `gongdan status`
FAILING = timedelta(hours=1)  # a reply failing for longer degrades the desk
STALE_INTERVALS = 3  # a mailbox without a successful cycle for this many intervals degrades it


def status(
    conn: Connection, config: Config, revision: str | None, now: datetime, interval: float
) -> dict:
    """The health report and its exit code (see `report`), from the database as of `now`.

    A reply waiting past its first retry has either been tried already (a failure, or the server
    could not be reached) or has been due for longer than the first retry would wait: in a
    healthy desk a reply goes out in the cycle that queued it."""
    outbox = outbox_record(
        conn,
        failing_before=now - FAILING,
        due_before=now - FIRST_RETRY,
        bounced_since=now - BOUNCED,
    )
    unreadable = unreadable_since(conn, now - UNREADABLE)
    return report(config, mailbox_records(conn), outbox, revision, now, interval, unreadable)


def _last_drain(state: MailboxRecord | None) -> dict | None:
    """How the last sending of the outbox ended, from its MailboxState row (store.outbox)."""
    if state is None:
        return None
    failed = state.last_error_at is not None and (
        state.last_success_at is None or state.last_error_at >= state.last_success_at
    )
    return {
        "at": iso(state.last_error_at if failed else state.last_success_at),
        "ok": not failed,
        "error": state.last_error if failed else None,
        "last_success": iso(state.last_success_at),
    }


def report(
    config: Config,
    states: dict[str, MailboxRecord],
    outbox: OutboxRecord,
    revision: str | None,
    now: datetime,
    interval: float,
    unreadable: tuple[int, str | None] = (0, None),
) -> dict:
    """The health report and its exit code: degraded when a mailbox has had no successful cycle for
    three intervals, a reply has been failing for over an hour or is waiting past its first retry,
    or the last sending of the outbox failed. Replies bounced and emails kept unreadable in the
    last 7 days (`unreadable`: how many, the newest one's error), replies held back by the daily
    limit and config warnings are notices. Problems and notices are Findings (a code and its
    figures): ingest.desk.findings says them in English for --json, in Chinese for people."""
    problems = []
    mailboxes = []
    stale_before = now - timedelta(seconds=STALE_INTERVALS * interval)
    for box in config.mailboxes:
        state = states.get(box.name)
        last_success = state.last_success_at if state else None
        if last_success is None or last_success < stale_before:
            problems.append(
                Finding(
                    "mailbox_stale",
                    {
                        "name": box.name,
                        "last_success": iso(last_success),
                        "last_error": state.last_error if state else None,
                        "intervals": STALE_INTERVALS,
                        "interval": interval,
                    },
                )
            )
        mailboxes.append(
            {
                "name": box.name,
                "kind": box.kind,
                "last_success": iso(last_success),
                "last_error": state.last_error if state else None,
                "last_error_at": iso(state.last_error_at) if state else None,
                "uidvalidity": state.uidvalidity if state else None,
                "last_uid": state.last_uid if state else 0,
            }
        )
    counts = outbox.per_state
    if outbox.failing_message_id is not None:
        problems.append(
            Finding(
                "reply_failing",
                {"message_id": outbox.failing_message_id, "error": outbox.failing_error},
            )
        )
    waiting = outbox.waiting
    if waiting:
        problems.append(
            Finding("replies_waiting", {"count": waiting, "oldest": iso(outbox.oldest_waiting)})
        )
    # A bounced reply is for a person to act on (the operator's address is wrong or full), not a
    # fault of the desk: it is said, and the exit code stays what the desk's health makes it.
    bounced = outbox.bounced
    notices = (
        [Finding("replies_bounced", {"count": bounced, "days": BOUNCED.days})] if bounced else []
    )
    if unreadable[0]:
        n, error = unreadable
        notices.append(
            Finding("emails_unreadable", {"count": n, "days": UNREADABLE.days, "error": error})
        )
    public = public_operator_domains(config)  # said, and the exit code stays the desk's health
    if public:
        notices.append(Finding("public_operator_domains", {"domains": public}))
    if config.engineers and not config.desk.trusted_authserv_id:
        # SPEC §8: anyone can write as an engineer; said, the exit code unchanged.
        notices.append(Finding("engineer_mail_unverified"))
    if not screenshots.available():  # SPEC §14: a ticket sent as a picture is answered as text
        notices.append(Finding("screenshots_unread"))
    # So is a reply the daily limit held back: nothing withheld is silently forgotten (§6b).
    held = counts.get("held", 0)
    if held:
        notices.append(Finding("replies_held", {"count": held}))
    last_drain = _last_drain(states.get(DRAIN_STATE))
    if last_drain and last_drain["error"]:
        problems.append(
            Finding("last_send_failed", {"at": last_drain["at"], "error": last_drain["error"]})
        )
    return {
        "healthy": not problems,
        "exit_code": DEGRADED if problems else HEALTHY,
        "problems": problems,
        "notices": notices,
        "mailboxes": mailboxes,
        "outbox": {
            "queued": counts.get("queued", 0) + counts.get("sending", 0),
            "failed": counts.get("failed", 0),
            "sent": counts.get("sent", 0),
            "oldest_failure": iso(outbox.oldest_failure),
            "bounced_7d": bounced,
            "held": held,
            "waiting": waiting,
            "oldest_waiting": iso(outbox.oldest_waiting),
            "last_drain": last_drain,
        },
        "unreadable_7d": unreadable[0],
        "database": {"revision": revision},
    }
