"""`gongdan outbox list|retry`: the replies waiting to go out."""

from __future__ import annotations

import click

from ingest.cli.common import config_of, wall_clock
from ingest.cli.database import database
from ingest.reading.clean_text import clean_text
from ingest.store import db
from ingest.store.outbox import requeue
from ingest.store.outbox_list import outbox_rows


@click.group("outbox")
def outbox_group() -> None:
    """Look at and retry the replies waiting to go out, and see those that bounced.

    Example: gongdan outbox list --failed
    """


@outbox_group.command("list")
@click.option("--failed", is_flag=True, help="Only replies whose last attempt failed.")
@click.option(
    "--bounced",
    is_flag=True,
    help="Only replies sent but reported undeliverable by the recipient's mail system.",
)
@click.pass_context
def outbox_list(ctx: click.Context, failed: bool, bounced: bool) -> None:
    """Replies not yet sent, and sent ones that bounced: ticket, kind, recipient, attempts, next
    attempt (or when it bounced) and the last error (or the bounce's reason).

    Example: gongdan outbox list --bounced
    """
    config = config_of(ctx)
    states = ("failed",) * failed + ("bounced",) * bounced or (
        "queued",
        "sending",
        "failed",
        "bounced",
    )
    with database(config) as engine, engine.connect() as conn:
        rows = outbox_rows(conn, states)
    for row in rows:
        when = (
            f"bounced {row.bounced_at}"
            if row.state == "bounced"
            else f"next {row.next_attempt_at or 'never'}"
        )
        # Addresses and server error text come from outside: cleaned for the terminal.
        click.echo(
            clean_text(
                f"{row.message_id}  ticket #{row.ticket_id or '-'}  {row.kind}  "
                f"to {', '.join(row.to_addresses)}  "
                f"{row.state}, {row.attempts} attempt(s), {when}"
                + (f"  last error: {row.last_error}" if row.last_error else "")
            )
        )
    if not rows:
        click.echo("nothing waiting")


@outbox_group.command("retry")
@click.argument("message_ids", nargs=-1, required=True)
@click.pass_context
def outbox_retry(ctx: click.Context, message_ids: tuple[str, ...]) -> None:
    """Queue failed replies again now, e.g. one left after an interrupted hand-over once you know
    the mail server does not have it. The next `gongdan poll` sends them.

    Example: gongdan outbox retry '<gongdan.1795.4e94@support.example.cn>'
    """
    config = config_of(ctx)
    missing, now = [], wall_clock()
    with database(config) as engine, db.session(engine) as session:
        for message_id in message_ids:
            if not requeue(session, message_id, now):
                missing.append(message_id)
    if missing:
        raise click.ClickException(f"no failed reply with Message-ID {', '.join(missing)}")
    click.echo(f"{len(message_ids)} reply(ies) queued again")
