"""`gongdan outbox list|retry|release`: the replies waiting to go out, or held back."""

from __future__ import annotations

from datetime import tzinfo

import click

from ingest.cli.common import config_of, wall_clock
from ingest.cli.database import database
from ingest.reading.clean_text import clean_text
from ingest.reading.display_words import REPLY_STATE_LABELS, held_label, reply_kind_label
from ingest.rules.bounces import shown_reason
from ingest.store import db
from ingest.store.outbox import release, requeue
from ingest.store.outbox_list import outbox_rows
from replies.local_time import local_minute


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
    tz = config.desk.tz
    with database(config) as engine, engine.connect() as conn:
        rows = outbox_rows(conn, states)
    for row in rows:
        # Addresses and server error text come from outside: cleaned for the terminal.
        click.echo(clean_text(_line(row, tz)))
    if not rows:
        click.echo("没有待发送的回复")


def _line(row, tz: tzinfo) -> str:
    """One outbox row for people: ticket, kind, recipient, state, attempts, when and why."""
    at = lambda value: local_minute(value, tz)  # noqa: E731
    when = {
        "bounced": f"退信于 {at(row.bounced_at)}",
        "held": f"自 {at(row.created_at)} 暂缓，待放行",
    }.get(row.state, f"下次 {at(row.next_attempt_at) or '不再重试'}")
    if row.state == "bounced":
        said = shown_reason(row.last_error)
    elif row.last_error:
        said = (
            f"暂缓原因：{held_label(row.last_error)}"
            if row.state == "held"
            else f"上次错误：{row.last_error}"
        )
    else:
        said = ""
    return (
        f"{row.message_id}  工单#{row.ticket_id or '-'}  {reply_kind_label(row.kind)}  "
        f"收件人 {', '.join(row.to_addresses)}  "
        f"{REPLY_STATE_LABELS.get(row.state, row.state)}，已尝试 {row.attempts} 次，{when}"
        + (f"  {said}" if said else "")
    )


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
