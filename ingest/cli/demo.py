"""`gongdan demo`: the whole desk on the sample Maildir, with nothing to install but gongdan."""

from __future__ import annotations

import email
import shutil
from collections.abc import Callable
from email import policy
from pathlib import Path

import click
from rich.console import Console

from ingest.cli import views as ticket_views
from ingest.cli.running import counts_text
from ingest.config import load_config
from ingest.desk.poll import run_cycle
from ingest.store import db

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


def run_demo(sample: Path, workdir: Path, echo: Callable[[str], None] = print) -> None:
    for part in ("inbox", "outbox", "gongdan.db", "gongdan.db-wal", "gongdan.db-shm"):
        target = workdir / part
        shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(
            missing_ok=True
        )
    (workdir / "inbox").mkdir(parents=True)
    for sub in ("new", "cur", "tmp"):
        shutil.copytree(
            sample / sub,
            workdir / "inbox" / sub,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".*"),
        )
    (workdir / "gongdan.toml").write_text(CONFIG, "utf-8")
    config = load_config(str(workdir / "gongdan.toml"))
    db.upgrade(config.database_url)
    engine = db.open_database(config.database_url)
    try:
        report = run_cycle(config, engine)
        for box in report.mailboxes:
            echo(f"mailbox {box.name}: {counts_text(box.counts)}")
        echo(f"outbox: {report.outbox.sent} replies written to {workdir / 'outbox' / 'new'}")
        with db.session(engine) as session:
            rows = [
                ticket_views.ticket_summary(session, t) for t in ticket_views.query_tickets(session)
            ]
        ticket_views.render_list(Console(), rows)
        replies = sorted((workdir / "outbox" / "new").iterdir())
        if replies:
            first = email.message_from_bytes(replies[0].read_bytes(), policy=policy.default)
            echo(f"\nFirst reply, to {first['To']}: {first['Subject']}\n")
            echo(first.get_content())
        echo(f"Next: gongdan --config {workdir / 'gongdan.toml'} tickets show 1")
    finally:
        engine.dispose()


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

    Example: gongdan demo && gongdan --config demo-run/gongdan.toml tickets list
    """
    run_demo(Path(inbox), Path(workdir), echo=click.echo)
