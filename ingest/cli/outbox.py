"""`gongdan outbox list|retry|release`: the replies waiting to go out, or held back."""

from __future__ import annotations

import click

from ingest.cli.common import config_of, wall_clock
from ingest.cli.database import database
from ingest.reading.clean_text import clean_text
from ingest.rules.bounces import shown_reason
from ingest.store import db
from ingest.store.outbox import release, requeue
from ingest.store.outbox_list import outbox_rows


@click.group("outbox")
def outbox_group() -> None:
    """Look at and retry the replies waiting to go out, see those that bounced, and release
    those the daily limit held back.

    Example: gongdan outbox list --failed
    """


@outbox_group.command("list")
@click.option("--failed", is_flag=True, help="Only replies whose last attempt failed.")
@click.option(
    "--bounced",
    is_flag=True,
    help="Only replies sent but reported undeliverable by the recipient's mail system.",
)
@click.option(
    "--held",
    is_flag=True,
    help="Only replies held back by the daily reply limit (gongdan outbox release sends them).",
)
@click.pass_context
def outbox_list(ctx: click.Context, failed: bool, bounced: bool, held: bool) -> None:
    """Replies not yet sent (held back by the daily limit too), and sent ones that bounced:
    ticket, kind, recipient, attempts, next attempt (or when it bounced) and the last error (or
    the bounce's reason, or why it is held).

    Example: gongdan outbox list --held
    """
    config = config_of(ctx)
    states = ("failed",) * failed + ("bounced",) * bounced + ("held",) * held or (
        "queued",
        "sending",
        "failed",
        "held",
        "bounced",
    )
    with database(config) as engine, engine.connect() as conn:
        rows = outbox_rows(conn, states)
    for row in rows:
        when = {
            "bounced": f"bounced {row.bounced_at}",
            "held": f"held since {row.created_at} until released",
        }.get(row.state, f"next {row.next_attempt_at or 'never'}")
        error = "why held" if row.state == "held" else "last error"
        said = (
            shown_reason(row.last_error)
            if row.state == "bounced"
            else (f"{error}: {row.last_error}" if row.last_error else "")
        )
        # Addresses and server error text come from outside: cleaned for the terminal.
        click.echo(
            clean_text(
                f"{row.message_id}  ticket #{row.ticket_id or '-'}  {row.kind}  "
                f"to {', '.join(row.to_addresses)}  "
                f"{row.state}, {row.attempts} attempt(s), {when}" + (f"  {said}" if said else "")
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


@outbox_group.command("release")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Release every held reply.")
@click.pass_context
def outbox_release(ctx: click.Context, message_ids: tuple[str, ...], everything: bool) -> None:
    """Send replies that the daily reply limit held back, once a person has decided they should
    go: the next `gongdan poll` or `gongdan send` delivers them, whatever the limit says. An id
    that is not a held reply is left alone and named (exit 1).

    Example: gongdan outbox release '<gongdan.1795.4e94@support.example.cn>'
    """
    if everything == bool(message_ids):
        raise click.UsageError("give the Message-IDs of held replies, or --all")
    config = config_of(ctx)
    with database(config) as engine, db.session(engine) as session:
        released = release(session, None if everything else list(message_ids))
    click.echo(f"{len(released)} held reply(ies) released; the next send delivers them")
    not_held = [m for m in message_ids if m not in set(released)]
    if not_held:
        raise click.ClickException(
            clean_text(f"not a held reply, left as it is: {', '.join(not_held)}")
        )
