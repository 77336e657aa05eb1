"""The demo's second act: the sample's later mails (demo/conversation), each delivered and polled
at its own time, and what each changed printed as people see it (SPEC §13: an operator's
follow-up reaches the engineer, the engineer's 答复 reaches the operator, a resolved ticket
reopens)."""

from __future__ import annotations

import email
from collections.abc import Callable
from datetime import datetime, timedelta
from email import policy
from pathlib import Path

from ingest.desk.poll import run_cycle
from ingest.reading.display_words import REPLY_KIND_LABELS, WAITING_LABELS, status_label
from ingest.store import db
from ingest.store.outbox_list import outbox_rows
from ingest.store.ticket_list import ticket_summaries

POLL_AFTER = timedelta(minutes=2)  # each later mail is polled this long after its Date
BODY_LINES = 12  # the lines of each mail the desk sent that the demo prints
WIDE = 72  # longer lines (a reply link) are cut there


def _tickets(engine) -> dict[int, dict]:
    with db.session(engine) as session:
        return {t["id"]: t for t in ticket_summaries(session)}  # every status


def _state(ticket: dict) -> str:
    waiting = WAITING_LABELS.get(ticket["waiting_on"] or "", "")
    return status_label(ticket["status"]) + (f"，{waiting}" if waiting else "")


def _change(old: dict | None, new: dict) -> str:
    """What a poll changed on a ticket, in the words of the views ('' for nothing)."""
    if old is None:
        return f"新工单，{_state(new)}"
    parts = []
    if _state(old) != _state(new):
        reopened = old["status"] in ("resolved", "on_hold") and new["status"] == "in_progress"
        parts.append(f"{_state(old)} → {_state(new)}" + ("（重新打开）" if reopened else ""))
    if old["engineer"] != new["engineer"]:
        parts.append(f"工程师 {old['engineer'] or '未指派'} → {new['engineer'] or '未指派'}")
    return "；".join(parts)


def _sent(engine, outbox: Path, first: int) -> list[tuple[str, email.message.EmailMessage]]:
    """The mails the desk wrote since outbox row `first`: (kind, mail as the recipient reads it)."""
    with engine.connect() as conn:
        rows = {r.message_id: r.kind for r in outbox_rows(conn) if r.id > first}
    found = []
    for path in sorted((outbox / "new").iterdir(), key=lambda p: p.stat().st_mtime_ns):
        mail = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        if mail["Message-ID"] in rows:
            found.append((rows[mail["Message-ID"]], mail))
    return found


def _last_outbox_id(engine) -> int:
    with engine.connect() as conn:
        return max((r.id for r in outbox_rows(conn)), default=0)


def play(
    config,
    engine,
    mails: list[tuple[bytes, datetime]],
    workdir: Path,
    echo: Callable[[str], None],
) -> None:
    """Deliver each (raw mail, its Date) into the demo's inbox and poll as of just after it."""
    tz = config.desk.tz
    echo("\nThe conversation after the first replies (each mail polled at its own time):")
    for n, (raw, date) in enumerate(mails):
        now = date + POLL_AFTER
        before, first = _tickets(engine), _last_outbox_id(engine)
        (workdir / "inbox" / "new" / f"later{n:02d}.demo").write_bytes(raw)
        run_cycle(config, engine, now)
        mail = email.message_from_bytes(raw, policy=policy.default)
        echo(f"\n{now.astimezone(tz):%m-%d %H:%M} poll: a mail from {mail['From']}")
        echo(f"  「{mail['Subject']}」")
        for number, ticket in _tickets(engine).items():
            change = _change(before.get(number), ticket)
            if change:
                echo(f"  工单#{number}: {change}")
        sent = _sent(engine, workdir / "outbox", first)
        if not sent:
            echo("  (nothing sent: the note stays internal)")
        for kind, out in sent:
            echo(f"  {REPLY_KIND_LABELS.get(kind, kind)} → {out['To']}: {out['Subject']}")
            lines = out.get_body(("plain",)).get_content().strip().splitlines()
            for line in lines[:BODY_LINES]:
                echo(f"    | {line if len(line) <= WIDE else line[:WIDE] + '…'}")
            if len(lines) > BODY_LINES:
                echo(f"    | …（共 {len(lines)} 行）")
