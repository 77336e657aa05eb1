"""`gongdan tickets list|show` and `gongdan export`: the stored tickets, for people and tools
(`tickets merge|close` are in ticket_actions)."""

from __future__ import annotations

import os
from pathlib import Path

import click
from rich.console import Console

from ingest.cli import views as ticket_views
from ingest.cli.common import cannot_write, config_of, json_line, since_date, wall_clock
from ingest.cli.database import database
from ingest.cli.ticket_actions import tickets_close, tickets_merge
from ingest.reading.display_words import STATUSES
from ingest.reading.local_time import zone
from ingest.store import db
from ingest.store.export import export
from ingest.store.ticket_list import ticket_attachments, ticket_detail, ticket_summaries


@click.group()
def tickets() -> None:
    """List, show, merge and close tickets.

    Example: gongdan tickets list --status waiting_info
    """


tickets.add_command(tickets_merge)
tickets.add_command(tickets_close)


@tickets.command("list")
@click.option("--status", type=click.Choice(STATUSES), help="Only tickets with this status.")
@click.option("--operator", help="Only tickets whose operator name or address contains this.")
@click.option("--since", help="Only tickets created on or after this date (2024-03-01).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ticket, one per line.")
@click.option("--all", "show_all", is_flag=True, help="Closed tickets too (merged, automatic).")
@click.pass_context
def tickets_list(
    ctx: click.Context,
    status: str | None,
    operator: str | None,
    since: str | None,
    as_json: bool,
    show_all: bool,
) -> None:
    """List tickets, oldest first; closed ones only with --all or --status closed.

    Example: gongdan tickets list --operator 星星充电 --since 2024-03-01
    """
    config = config_of(ctx)
    with database(config) as engine, db.session(engine) as session:
        rows = ticket_summaries(
            session, status, operator, since_date(since), closed=show_all or status == "closed"
        )
    if as_json:
        for row in rows:
            click.echo(json_line(row))
    else:
        console = Console()
        tz = zone(config.desk.timezone)
        ticket_views.render_list(console, rows, wall_clock(), tz, console.is_terminal)


@tickets.command("show")
@click.argument("number", type=int)
@click.option("--json", "as_json", is_flag=True, help="The ticket as one JSON object.")
@click.pass_context
def tickets_show(ctx: click.Context, number: int, as_json: bool) -> None:
    """Show one ticket: its fields, what is missing, stop codes, the thread and its history.

    Example: gongdan tickets show 42
    """
    config = config_of(ctx)
    with database(config) as engine, db.session(engine) as session:
        detail = ticket_detail(session, number)
    if detail is None:
        raise click.ClickException(f"no ticket #{number}")
    if as_json:
        click.echo(json_line(detail))
    else:
        engineers = {e.address.lower() for e in config.engineers}
        ticket_views.render_show(Console(), detail, zone(config.desk.timezone), engineers)


@tickets.command("attachment")
@click.argument("number", type=int)
@click.argument("k", type=int)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False), help="Write it here.")
@click.pass_context
def tickets_attachment(ctx: click.Context, number: int, k: int, out: str) -> None:
    """Write attachment K of ticket N (numbered as `tickets show` lists them) to a file readable
    by its owner only (0600).

    Example: gongdan tickets attachment 42 1 --out photo.jpg
    """
    config = config_of(ctx)
    with database(config) as engine, db.session(engine) as session:
        found = ticket_attachments(session, number)
    if found is None:
        raise click.ClickException(f"no ticket #{number}")
    if not 1 <= k <= len(found):
        raise click.ClickException(f"ticket #{number} has no attachment {k} (it has {len(found)})")
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(found[k - 1].data)
    except OSError as exc:
        raise cannot_write(out, exc) from exc
    click.echo(f"{out}: {found[k - 1].name} ({found[k - 1].size} bytes)")


@click.command("export")
@click.option("--since", help="Only tickets updated on or after this date (2024-03-01).")
@click.option("--ticket", "ticket_id", type=int, help="Only this ticket.")
@click.option(
    "--raw",
    "raw_dir",
    type=click.Path(file_okay=False),
    help="Also write every stored message's "
    "raw bytes as DIR/<ticket>/<n>.eml (and DIR/unreadable/), for `gongdan import`.",
)
@click.pass_context
def export_command(
    ctx: click.Context, since: str | None, ticket_id: int | None, raw_dir: str | None
) -> None:
    """Write every ticket with its messages, history and outbox as JSON Lines, oldest first,
    then the stored messages that belong to no ticket.

    Example: gongdan export --raw backup/ > backup/tickets.jsonl
    """
    config = config_of(ctx)
    found = 0
    with database(config) as engine, engine.connect() as conn:
        items = export(conn, since_date(since), ticket_id, Path(raw_dir) if raw_dir else None)
        try:
            for item in items:
                found += 1
                click.echo(json_line(item))
        except OSError as exc:  # --raw names a place that cannot be made or written
            raise cannot_write(raw_dir or "", exc) from exc
    if ticket_id is not None and not found:
        raise click.ClickException(f"no ticket #{ticket_id}")
