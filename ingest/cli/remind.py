"""`gongdan remind`: queue the follow-ups due on tickets waiting for the operator, then send."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime

import click

from ingest.config import ConfigError, load_config


def parse_now(text: str | None) -> datetime | None:
    """`--now`: an ISO-8601 time with its zone (as `gongdan digest --now` takes it), in UTC; None
    for the clock. A time without a zone is refused: China time or UTC would be a guess."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise click.BadParameter(
            f"expected ISO-8601 with a zone, such as 2026-11-30T09:00+08:00, not {text!r}",
            param_hint="--now",
        )
    return value.astimezone(UTC)


def _log_to_stdout(level: str) -> None:
    """Progress on stdout, so that on failure stderr holds just the one line that matters."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("gongdan")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@click.command()
@click.option(
    "--now",
    "now_text",
    metavar="ISO-8601",
    help="Act as of this time, with its zone (replaying, testing). Default: the clock.",
)
@click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    help="Show log lines of this level and above (on stdout; one per reminder or notice).",
)
@click.pass_context
def remind(ctx: click.Context, now_text: str | None, log_level: str) -> None:
    """Remind operators who were asked for information and have not answered, then send.

    A ticket still incomplete after a request_info gets one reminder after [desk] remind_after
    (default 2d) with what is still missing and the blank template, and moves to 暂搁置 (on
    hold) with a notice after [desk] hold_after (default 7d). Any answer from the operator stops
    the clock. Reminders follow the reply rules (no automatic senders, operator domains, daily
    limit) and are queued once each, however often this runs.

    Example: gongdan remind --now 2026-12-03T09:00:00+08:00
    """
    from ingest.desk.remind import remind_due
    from ingest.store import db
    from replies.send_stage import OUTBOX_WAIT, send_due

    now = parse_now(now_text)
    _log_to_stdout(log_level)
    try:
        config = load_config(ctx.obj["config_path"])
        engine = db.open_database(config.database_url)
    except (ConfigError, db.DatabaseError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        report = remind_due(config, engine, now)
        click.echo(report.line())
        sent = send_due(config, engine, wait=OUTBOX_WAIT)
    except Exception as exc:
        raise click.ClickException(
            f"remind failed: {type(exc).__name__}: {db.short_error(exc)}"
        ) from exc
    finally:
        engine.dispose()
    if sent is None:
        click.echo("outbox: another run is sending")
        return
    click.echo(f"outbox: {sent.sent} sent, {sent.failed} failed")
    if sent.error:
        raise click.ClickException(f"outbox: {sent.error}")
