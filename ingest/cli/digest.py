"""`gongdan digest`: build the period's digest and mail it to the engineers."""

from __future__ import annotations

from datetime import datetime

import click

from ingest.cli.common import cannot_write, config_of, now_option, wall_clock
from ingest.cli.database import database
from ingest.cli.logs import setup_logging
from replies.digest import parse_since, run_digest, send_now


@click.command()
@click.option(
    "--since",
    "since_text",
    metavar="SPAN",
    help="Period length such as 24h or 7d (default: since the last digest, or 24h for the first).",
)
@click.option("--dry-run", is_flag=True, help="Build it without queueing or sending it.")
@click.option(
    "--out", type=click.Path(dir_okay=False), help="Also write the HTML digest to this file."
)
@now_option
@click.pass_context
def digest(
    ctx: click.Context, since_text: str | None, dry_run: bool, out: str | None, now: datetime | None
) -> None:
    """Mail the engineers a digest of the period: counts, open tickets, stop-code and operator
    charts.

    Each digest records the period it covered, so the next one starts where it ended.

    Example: gongdan digest --dry-run --out digest.html
    """
    config = config_of(ctx)
    try:
        since = parse_since(since_text) if since_text else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    setup_logging("WARNING")
    now = now or wall_clock()
    with database(config) as engine:
        try:
            summary = run_digest(config, engine, since, dry_run, out, now)
        except (ValueError, RuntimeError) as exc:
            raise click.ClickException(str(exc)) from exc
        except OSError as exc:  # --out is written before the digest is queued: none is
            if not out or str(exc.filename) != out:
                raise
            raise cannot_write(out, exc) from exc
        counts = summary["counts"]
        click.echo(
            f"{summary['subject']}: {counts['new']} new, "
            f"{counts['waiting_info']} waiting for the operator, "
            f"{counts['in_progress']} in progress, {counts['on_hold']} on hold, "
            f"{counts['resolved']} resolved"
        )
        if out:
            click.echo(f"written to {out}")
        if dry_run:
            return
        report = send_now(config, engine, now)
        if report is None:
            click.echo("queued; another run is sending the outbox and will send it")
        elif report.errors:
            raise click.ClickException(f"digest queued but not sent yet: {report.errors[0]}")
        else:
            click.echo(f"sent to {', '.join(summary['recipients'])}")
