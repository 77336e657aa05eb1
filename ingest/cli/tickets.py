"""`gongdan tickets list|show` and `gongdan export`: the stored tickets, for people and tools
(`tickets merge|close` are in ticket_actions)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console

from ingest.cli import views as ticket_views
from ingest.cli.common import (
    cannot_write,
    config_of,
    json_line,
    now_option,
    parse_moment,
    since_date,
    wall_clock,
)
from ingest.cli.database import database
from ingest.cli.ticket_actions import tickets_close, tickets_merge
from ingest.reading.display_words import STATUSES
from ingest.store import db
from ingest.store.export import export
from ingest.store.ticket_list import (
    OPEN,
    count_tickets,
    ticket_attachments,
    ticket_detail,
    ticket_summaries,
)


@click.group()
def tickets() -> None:
    """List, show, merge and close tickets.

    Example: gongdan tickets list --status waiting_info
    """


tickets.add_command(tickets_merge)
tickets.add_command(tickets_close)


DEFAULT_LIMIT = 50  # rows a person is shown unless they ask for more


@tickets.command("list")
@click.option(
    "--status",
    multiple=True,
    type=click.Choice(STATUSES),
    help="Only tickets with this status (repeat for several).",
)
@click.option("--all", "show_all", is_flag=True, help="Every ticket, resolved and closed too.")
@click.option("--operator", help="Only tickets whose operator name or address contains this.")
@click.option(
    "--since",
    metavar="SPAN|DATE",
    help="Only tickets created since a span back from now (7d, 2w, 1mo) or a date (2024-03-01).",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    help=f"At most this many tickets (default {DEFAULT_LIMIT}; with --json: every ticket).",
)
@click.option("--offset", type=click.IntRange(min=0), default=0, help="Skip this many first.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ticket, one per line.")
@now_option
@click.pass_context
def tickets_list(
    ctx: click.Context,
    status: tuple[str, ...],
    show_all: bool,
    operator: str | None,
    since: str | None,
    limit: int | None,
    offset: int,
    as_json: bool,
    now: datetime | None,
) -> None:
    """List tickets, oldest first: the open ones (waiting for information, in progress, on hold)
    unless --all or --status says otherwise, at most --limit, with a last line saying how many
    more there are. Rows are printed as they are read.

    Example: gongdan tickets list --status on_hold --since 2w
    """
    config = config_of(ctx)
    now = now or wall_clock()
    start = parse_moment(since, "--since", now) if since else None
    wanted = status or (None if show_all else OPEN)
    if limit is None and not as_json:
        limit = DEFAULT_LIMIT
    with database(config) as engine, db.session(engine) as session:
        rows = ticket_summaries(session, wanted, operator, start, limit, offset)
        if as_json:
            shown = 0
            for row in rows:
                shown += 1
                click.echo(json_line(row))
        else:
            console = Console()
            tz = config.desk.tz
            shown = ticket_views.render_list(console, rows, now, tz, console.is_terminal)
        full = limit is not None and shown == limit  # else there is nothing more to count
        more = count_tickets(session, wanted, operator, start) - offset - shown if full else 0
    if more > 0:  # a tool reading --json lines gets the note on stderr
        click.echo(f"还有 {more} 个工单未显示（--limit/--offset）", err=as_json)


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
        ticket_views.render_show(Console(), detail, config.desk.tz, engineers)


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
