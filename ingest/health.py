"""`gongdan status`: is the desk healthy? Mailbox cycles, the outbox, the database revision (SPEC §11)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ingest.config import Config
from ingest.models import MailboxState, Outbox, iso

HEALTHY, DEGRADED, BROKEN = 0, 1, 2



def status(conn: Connection, config: Config, revision: str | None, now: datetime, interval: float) -> dict:
    """The health report and its exit code: degraded when a mailbox has had no successful cycle for
    three intervals, or a reply has been failing for over an hour."""
    problems = []
    states = {row.name: row for row in conn.execute(select(MailboxState))}
    mailboxes = []
    stale_before = now - timedelta(seconds=3 * interval)
    for box in config.mailboxes:
        state = states.get(box.name)
        last_success = state.last_success_at if state else None
        if last_success is None or last_success < stale_before:
            problems.append(f"mailbox {box.name}: no successful cycle since "
                            f"{iso(last_success) or 'ever'}" + (f" (last error: {state.last_error})"
                                                                  if state and state.last_error else ""))
        mailboxes.append({
            "name": box.name, "kind": box.kind, "last_success": iso(last_success),
            "last_error": state.last_error if state else None, "last_error_at": iso(state.last_error_at) if state else None,
            "uidvalidity": state.uidvalidity if state else None, "last_uid": state.last_uid if state else 0,
        })
    counts = dict(conn.execute(select(Outbox.state, func.count()).group_by(Outbox.state)).all())
    oldest_failure = conn.execute(select(func.min(Outbox.created_at)).where(Outbox.state == "failed")).scalar()
    failing = conn.execute(select(Outbox.message_id, Outbox.last_error).where(
        Outbox.state == "failed", Outbox.created_at < now - timedelta(hours=1)).order_by(Outbox.id).limit(1)).first()
    if failing:
        problems.append(f"outbox: reply {failing.message_id} failing for over an hour: {failing.last_error}")
    return {
        "healthy": not problems, "exit_code": DEGRADED if problems else HEALTHY, "problems": problems,
        "mailboxes": mailboxes,
        "outbox": {"queued": counts.get("queued", 0) + counts.get("sending", 0), "failed": counts.get("failed", 0),
                   "sent": counts.get("sent", 0), "oldest_failure": iso(oldest_failure)},
        "database": {"revision": revision},
    }
