"""`gongdan tickets merge|close`: what a person does to tickets by hand (SPEC §13)."""

from __future__ import annotations

from datetime import datetime

import click

from ingest.cli.common import config_of, now_option, wall_clock
from ingest.cli.database import database
from ingest.reading.clean_text import clean_text
from ingest.store import db, merge

BY_COMMAND = "命令行"  # who the history says did it: a person at the command line


@click.command("merge")
@click.argument("number", type=int)
@click.option("--into", "target", type=int, required=True, help="The ticket to merge it into.")
@now_option
@click.pass_context
def tickets_merge(ctx: click.Context, number: int, target: int, now: datetime | None) -> None:
    """Merge ticket NUMBER into another: its messages, history, stop codes and replies move
    there, and NUMBER is closed as merged (mail tagged with its number joins the other).

    Example: gongdan tickets merge 7 --into 5
    """
    when = now or wall_clock()
    _change(ctx, lambda session: merge.merge_numbers(session, number, target, BY_COMMAND, when))
    click.echo(f"ticket #{number} merged into #{target}")


@click.command("close")
@click.argument("number", type=int)
@click.option("--reason", required=True, help="Why it is closed, as people will read it.")
@now_option
@click.pass_context
def tickets_close(ctx: click.Context, number: int, reason: str, now: datetime | None) -> None:
    """Close ticket NUMBER without a reply (status 已关闭): it leaves the open lists and the
    digest, and gets no reminders.

    Example: gongdan tickets close 6 --reason 自动回复，无需处理
    """
    reason = clean_text(" ".join(reason.split()))
    if not reason:
        raise click.ClickException("--reason must say why the ticket is closed")
    when = now or wall_clock()
    _change(ctx, lambda session: merge.close(session, number, reason, BY_COMMAND, when))
    click.echo(f"ticket #{number} closed")


def _change(ctx: click.Context, change) -> None:
    """Run `change(session)` on the configured database in one transaction; a refusal is the
    command's one-line error and changes nothing."""
    with database(config_of(ctx)) as engine, db.session(engine) as session:
        try:
            change(session)
        except merge.Refused as exc:
            raise click.ClickException(str(exc)) from None
        session.commit()
