"""`gongdan demo`: the whole desk on the sample Maildir, with nothing to install but gongdan."""

from __future__ import annotations

import email
import os
import re
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from email import policy
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import click
from rich.console import Console

from ingest.cli import demo_conversation
from ingest.cli import views as ticket_views
from ingest.cli.common import wall_clock
from ingest.cli.running import counts_text
from ingest.config import load_config
from ingest.desk.poll import run_cycle
from ingest.desk.remind import remind_due
from ingest.store import db
from ingest.store.outbox_list import outbox_rows
from ingest.store.ticket_list import OPEN, ticket_summaries
from replies.digest import collect, render
from replies.digest_data import OPEN_LIMIT
from replies.send_stage import send_due

CONFIG = """# Written by `gongdan demo`: the embedded default, a Maildir in and a Maildir outbox.
[database]
url = "sqlite:///gongdan.db"

[[mailbox]]
name = "demo"
kind = "maildir"
path = "inbox"

[outgoing]
kind = "maildir"
path = "outbox"
from_address = "support@gongdan.example.cn"

[[engineer]]
name = "小明"
address = "xiaoming@gongdan.example.cn"
"""


DATE = re.compile(rb"^Date:[ \t]*(.+?)\r?$", re.M | re.I)
MAIL_AGE = timedelta(hours=1)  # how old the sample's last mail is when the demo runs
REMIND_IN = timedelta(days=3)  # the reminder step runs as of this long after the poll


def sample_dates(raws: list[bytes]) -> list[datetime | None]:
    """Each mail's own Date header (in its header block), when it has one that parses."""
    found = []
    for raw in raws:
        head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
        match = DATE.search(head)
        try:
            found.append(parsedate_to_datetime(match.group(1).decode("ascii")) if match else None)
        except (TypeError, ValueError):
            found.append(None)
    return found


def moved(raw: bytes, date: datetime | None, shift: timedelta) -> bytes:
    """`raw` with its Date moved by `shift` (the sample's fortnight ends an hour ago)."""
    if date is None:
        return raw
    new = format_datetime(date + shift).encode("ascii")
    return DATE.sub(lambda m: m.group(0).replace(m.group(1), new), raw, count=1)


def copy_sample(sample: Path, inbox: Path, now: datetime) -> timedelta:
    """Copy the sample Maildir, its dates moved so that its last mail is MAIL_AGE old; the shift
    is returned, for the later mails."""
    files = [f for sub in ("new", "cur") for f in sorted((sample / sub).glob("[!.]*"))]
    raws = [f.read_bytes() for f in files]
    dates = sample_dates(raws)
    newest = max((d for d in dates if d is not None), default=now - MAIL_AGE)
    shift = now - MAIL_AGE - newest
    for sub in ("new", "cur", "tmp"):
        (inbox / sub).mkdir(parents=True, exist_ok=True)
    for path, raw, date in zip(files, raws, dates, strict=True):
        (inbox / path.parent.name / path.name).write_bytes(moved(raw, date, shift))
    return shift


def later_mails(folder: Path, shift: timedelta) -> list[tuple[bytes, datetime]]:
    """The conversation's mails (a Maildir beside the sample) in order, their dates moved by
    `shift` like the sample's; each with its new date."""
    files = sorted((folder / "new").glob("[!.]*")) if folder.is_dir() else []
    raws = [f.read_bytes() for f in files]
    return [
        (moved(raw, date, shift), date + shift)
        for raw, date in zip(raws, sample_dates(raws), strict=True)
        if date is not None
    ]


def run_demo(sample: Path, workdir: Path, echo: Callable[[str], None] = print) -> None:
    for part in ("inbox", "outbox", "gongdan.db", "gongdan.db-wal", "gongdan.db-shm"):
        target = workdir / part
        shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(
            missing_ok=True
        )
    now = wall_clock()
    shift = copy_sample(sample, workdir / "inbox", now)
    (workdir / "gongdan.toml").write_text(CONFIG, "utf-8")
    config = load_config(str(workdir / "gongdan.toml"))
    db.upgrade(config.database_url)
    engine = db.open_database(config.database_url)
    try:
        report = run_cycle(config, engine, now)
        for box in report.mailboxes:
            echo(f"mailbox {box.name}: {counts_text(box.counts)}")
        echo(f"outbox: {report.outbox.sent} replies written to {workdir / 'outbox' / 'new'}")
        with db.session(engine) as session:
            rows = list(ticket_summaries(session, OPEN))
        ticket_views.render_list(Console(), rows, now, config.desk.tz)
        replies = sorted((workdir / "outbox" / "new").iterdir())
        if replies:
            first = email.message_from_bytes(replies[0].read_bytes(), policy=policy.default)
            echo(f"\nFirst reply, to {first['To']}: {first['Subject']}\n")
            echo(first.get_content())
        _digest(config, engine, now, workdir, echo)
        later = later_mails(sample.parent / "conversation", shift)
        demo_conversation.play(config, engine, later, workdir, echo)
        _remind(config, engine, now + REMIND_IN, echo)
        echo(f"Next: gongdan --config {workdir / 'gongdan.toml'} tickets show 1")
    finally:
        engine.dispose()


def _remind(config, engine, later: datetime, echo: Callable[[str], None]) -> None:
    """The follow-up step as it would run days later: reminders for what is still missing."""
    first = max((o.id for o in _outbox(engine)), default=0)
    report = remind_due(config, engine, later)
    send_due(config, engine, later)
    echo(f"\n{REMIND_IN.days} days later, `gongdan remind --now {later:%Y-%m-%dT%H:%M}Z`:")
    echo(report.line())
    for row in (o for o in _outbox(engine) if o.id > first):
        echo(f"  {row.kind} for 工单#{row.ticket_id} to {', '.join(row.to_addresses)}: {row.state}")


def _outbox(engine) -> list:
    with engine.connect() as conn:
        return outbox_rows(conn)


def _digest(config, engine, end: datetime, workdir: Path, echo: Callable[[str], None]) -> None:
    """The engineers' digest of the sample's fortnight as of `end`, written beside the database;
    its repeat faults printed."""
    addresses = [e.address for e in config.engineers]
    with engine.connect() as conn:
        data = collect(conn, end - timedelta(days=14), end, OPEN_LIMIT, config.digest, addresses)
    subject, text, html = render(data, None, config.outgoing.from_address)
    for name, content in (("digest.txt", text), ("digest.html", html)):
        # Operators' names and addresses: readable by the owner only, like the database.
        fd = os.open(workdir / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(content)
    section = text.split("\n重复故障", 1)[-1].split("\n\n", 1)[0]
    echo(f"\nThe digest ({workdir / 'digest.html'}, {workdir / 'digest.txt'}):\n{subject}")
    echo(f"重复故障{section}\n")


@click.command()
@click.option(
    "--inbox",
    default="demo/inbox",
    show_default=True,
    type=click.Path(exists=True, file_okay=False),
    help="The sample Maildir to read (it is copied, never changed).",
)
@click.option(
    "--dir", "workdir", default="demo-run", show_default=True, help="Where the demo writes."
)
def demo(inbox: str, workdir: str) -> None:
    """Run the desk on the sample operator emails: Maildir in, Maildir outbox, SQLite. No servers.

    The sample's dates are moved so its fortnight ends an hour ago. After the poll, the digest of
    the fortnight is written to the folder; then the later mails (the Maildir `conversation`
    beside the sample) arrive one by one, each polled at its own time: a follow-up reaching the
    engineer, the engineer's 答复 reaching the operator, a reopened ticket. Last, the reminder
    step runs as of three days after the poll.

    Example: gongdan demo && gongdan --config demo-run/gongdan.toml tickets list
    """
    run_demo(Path(inbox), Path(workdir), echo=click.echo)
