"""`gongdan poll`, `send` and `import`: taking mail in and sending replies out."""

from __future__ import annotations

import gc
import io
import logging
import sys
from datetime import datetime

import click

from ingest.cli.common import config_of, now_option, wall_clock
from ingest.cli.database import database
from ingest.cli.logs import json_record, log_level_option, setup_logging
from ingest.config import config_warnings
from ingest.desk import poll as poll_cycle
from ingest.desk import runner
from ingest.desk.runner import StopFlag
from ingest.store import db
from replies.send_stage import send_due


def counts_text(counts: dict[str, int]) -> str:
    """A mailbox's outcomes in a cycle: `2 follow up, 3 new ticket`."""
    return ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(counts.items()))


def _cycle_line(report) -> str:
    parts = []
    for box in report.mailboxes:
        if box.locked:
            parts.append(f"mailbox {box.name}: another gongdan poll is running on it, skipped")
        elif box.error:
            parts.append(f"mailbox {box.name}: ERROR {box.error}")
        else:
            parts.append(f"mailbox {box.name}: {counts_text(box.counts) or 'no new mail'}")
    if report.remind_error:
        parts.append(f"remind: ERROR {report.remind_error}")
    elif report.remind and (report.remind.reminders or report.remind.on_hold):
        parts.append(report.remind.line())
    if report.outbox_error:
        parts.append(f"outbox: ERROR {report.outbox_error}")
    elif report.outbox_locked:
        parts.append("outbox: another run is sending")
    elif report.outbox is not None:
        parts.append(_drain_line(report.outbox))
    return "; ".join(parts)


def _drain_line(report) -> str:
    return f"outbox: {report.sent} sent, {report.failed} failed" + (
        f", ERROR {report.error}" if report.error else ""
    )


@click.command()
@click.option("--loop", is_flag=True, help="Keep polling until stopped (SIGTERM or Ctrl-C).")
@click.option(
    "--interval", default=60.0, show_default=True, help="Seconds between cycles with --loop."
)
@log_level_option
@click.option(
    "--log-format",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="json: one JSON object per line on stdout, for log collectors.",
)
@now_option
@click.pass_context
def poll(
    ctx: click.Context,
    loop: bool,
    interval: float,
    log_level: str,
    log_format: str,
    now: datetime | None,
) -> None:
    """Take new mail from every mailbox, store it, queue replies and reminders, send the outbox.

    One cycle, then exit 0; a failure (a mailbox, or an outbox that cannot send: a missing
    password, a refused login, an unreachable server) prints one line on stderr and exits 1;
    replies the outbox could not send stay queued for the next cycle. A second poll on a
    mailbox that is being polled says so and exits 0, so cron can run it every minute. The
    follow-ups due (reminders and on-hold notices, as `gongdan remind` queues them) are a step
    of every cycle; --now runs that step as of another time. With --loop, IMAP mailboxes are
    watched with IDLE, so new mail is taken within seconds; Maildirs, and servers without IDLE,
    are looked at every --interval seconds.

    Example: gongdan --config /etc/gongdan.toml poll --loop --log-format json
    """
    if now and loop:
        raise click.BadParameter("a worker runs on the clock; use --now without --loop", ctx)
    config = config_of(ctx)
    setup_logging(log_level, log_format)
    for warning in config_warnings(config):
        logging.getLogger("gongdan.config").warning("%s", warning)
    stop = StopFlag()

    def cycle():
        # The cycle's one time: --now, or the clock read once for this cycle.
        report = poll_cycle.run_cycle(config, engine, now or wall_clock(), stop=stop)
        if _says_progress():
            line = _cycle_line(report)
            click.echo(json_record("gongdan.cycle", line) if log_format == "json" else line)
        return report

    with database(config) as engine:
        # What is loaded by now (modules, mappers, compiled statements) lives as long as the
        # process: the collector need not scan it again and again during a large cycle.
        gc.freeze()
        if not loop:
            report = _once(cycle, "poll")
            if report.errors:
                raise click.ClickException(report.errors[0])
            return
        # Only a worker watches mailboxes: a cron poll does not import IMAP IDLE's machinery.
        from ingest.desk.watch import Watcher

        watcher = Watcher(config.mailboxes)  # it starts listening at its first wait
        try:
            runner.loop(
                cycle,
                interval,
                stop.listen(),
                wait=lambda seconds: watcher.wait(seconds, stop=stop),
                name="poll cycle",
            )
        finally:
            watcher.close()


def _says_progress() -> bool:
    """The line each cycle ends with is progress, at INFO: at --log-level WARNING a cron run
    with nothing to warn about prints nothing (its failures still end in one line on stderr)."""
    return logging.getLogger("gongdan").isEnabledFor(logging.INFO)


def _once(cycle, what: str):
    """One cycle of a cron run, its report; a failure is one line and a non-zero exit."""
    try:
        return cycle()
    except click.ClickException:
        raise
    except Exception as exc:
        raise click.ClickException(
            f"{what} failed: {type(exc).__name__}: {db.short_error(exc)}"
        ) from exc


@click.command()
@click.option("--loop", is_flag=True, help="Keep sending until stopped (SIGTERM or Ctrl-C).")
@click.option(
    "--interval", default=60.0, show_default=True, help="Seconds between drains with --loop."
)
@now_option
@log_level_option
@click.pass_context
def send(
    ctx: click.Context, loop: bool, interval: float, now: datetime | None, log_level: str
) -> None:
    """Send the replies that are due, as `gongdan poll` does at the end of its cycle.

    One drain, then exit 0; an outbox that cannot send (a missing password, a refused login, an
    unreachable server) prints one line on stderr and exits 1, its replies still queued. While
    another run sends the outbox, says so and exits 0. With --loop, drains every --interval
    seconds: sending in its own process, beside `gongdan poll`.

    Example: gongdan --config /etc/gongdan.toml send --loop --interval 10
    """
    if now and loop:
        raise click.BadParameter("a worker runs on the clock; use --now without --loop", ctx)
    config = config_of(ctx)
    setup_logging(log_level)
    stop = StopFlag()

    def drain():
        report = send_due(config, engine, now or wall_clock(), stop=stop)
        if _says_progress():
            click.echo("outbox: another run is sending" if report is None else _drain_line(report))
        return report

    with database(config) as engine:
        if loop:
            runner.loop(drain, interval, stop.listen(), name="sending")
            return
        report = _once(drain, "send")
    if report is not None and report.error:
        raise click.ClickException(f"outbox: {report.error}")


@click.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.pass_context
def import_command(ctx: click.Context, paths: tuple[str, ...]) -> None:
    """Load .eml files, mbox files or Maildirs into the database (a mailbox backfill).

    Already stored emails are skipped, so an import can be rerun.

    Example: gongdan import backup/2024.mbox old-inbox/
    """
    # Here, not at the top: the importer loads the whole reader, which `gongdan poll` (in this
    # module) loads only when there is mail to read.
    from ingest.desk import importer

    config = config_of(ctx)
    with database(config) as engine:
        try:
            total = sum(1 for _ in importer.sources(list(paths)))
            show = sys.stderr.isatty()
            with click.progressbar(
                length=total, label="importing", file=sys.stderr if show else io.StringIO()
            ) as bar:
                counts = importer.import_paths(
                    engine, list(paths), config, wall_clock(), progress=bar.update
                )
        except OSError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(
        f"{counts['total']} emails: {counts['new_ticket']} new tickets, "
        f"{counts['follow_up']} follow-ups, {counts['duplicate']} duplicates skipped, "
        f"{counts['unreadable']} unreadable (stored and flagged)"
    )
