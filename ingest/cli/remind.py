"""`gongdan remind`: queue the follow-ups due on tickets waiting for the operator, then send."""

from __future__ import annotations

from datetime import datetime

import click

from ingest.cli.common import config_of, now_option, wall_clock
from ingest.cli.database import database
from ingest.cli.logs import log_level_option, setup_logging
from ingest.desk.remind import remind_due
from ingest.store import db
from replies.send_stage import OUTBOX_WAIT, send_due


@click.command()
@now_option
@log_level_option
@click.pass_context
def remind(ctx: click.Context, now: datetime | None, log_level: str) -> None:
    """Remind operators who were asked for information and have not answered, then send.

    A ticket still incomplete after a request_info gets one reminder after [desk] remind_after
    (default 2d) with what is still missing and the blank template, and moves to 暂搁置 (on
    hold) with a notice after [desk] hold_after (default 7d). Any answer from the operator stops
    the clock. Reminders follow the reply rules (no automatic senders, operator domains, daily
    limit) and are queued once each, however often this runs. `gongdan poll` does the same as a
    step of its cycle; this command is for running it apart.

    Example: gongdan remind --now 2026-12-03T09:00:00+08:00
    """
    config = config_of(ctx)
    setup_logging(log_level)
    now = now or wall_clock()
    with database(config) as engine:
        try:
            report = remind_due(config, engine, now)
            click.echo(report.line())
            sent = send_due(config, engine, now, wait=OUTBOX_WAIT)
        except Exception as exc:
            raise click.ClickException(
                f"remind failed: {type(exc).__name__}: {db.short_error(exc)}"
            ) from exc
    if sent is None:
        click.echo("outbox: another run is sending")
        return
    click.echo(f"outbox: {sent.sent} sent, {sent.failed} failed")
    if sent.error:
        raise click.ClickException(f"outbox: {sent.error}")
