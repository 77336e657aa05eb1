"""`gongdan status`: the desk's health, as a line per part and an exit code for monitoring."""

from __future__ import annotations

import json
from datetime import datetime, tzinfo

import click

from ingest.cli.common import json_line, now_option, wall_clock
from ingest.cli.metrics import exposition
from ingest.config import ConfigError, database_password, load_config
from ingest.desk.findings import chinese, report_json
from ingest.desk.health import BROKEN, status
from ingest.reading.clean_text import clean_text
from ingest.store import db
from replies.local_time import local_minute


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="The report as one JSON object.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "prometheus"]),
    default="text",
    show_default=True,
    help="prometheus: the figures in Prometheus text format, for node_exporter's textfile "
    "collector (--json is --format json).",
)
@click.option(
    "--interval",
    default=60.0,
    show_default=True,
    help="Seconds between polls (cron: 60); no successful cycle for three intervals is degraded.",
)
@now_option
@click.pass_context
def status_command(
    ctx: click.Context, as_json: bool, output_format: str, interval: float, now: datetime | None
) -> None:
    """Health: each mailbox's last cycle and error, the outbox, the database revision.

    Exit 0 healthy, 1 degraded, 2 when the config or the database cannot be read.

    Example: gongdan status --json || echo "gongdan needs attention"
    """
    as_json = as_json or output_format == "json"
    prometheus = output_format == "prometheus"
    try:
        config = load_config(ctx.obj["config_path"])
        engine = db.open_database(config.database_url, database_password(config))
    except (ConfigError, db.DatabaseError) as exc:
        if prometheus:
            click.echo(exposition(None, BROKEN, now or wall_clock()), nl=False)
            click.echo(f"BROKEN: {exc}", err=True)
            ctx.exit(BROKEN)
        click.echo(
            json.dumps({"healthy": False, "exit_code": BROKEN, "problems": [str(exc)]})
            if as_json
            else f"BROKEN: {exc}",
            err=not as_json,
        )
        ctx.exit(BROKEN)
    now = now or wall_clock()
    try:
        with engine.connect() as conn:
            report = status(conn, config, db.current_revision(engine), now, interval)
    except Exception as exc:  # the database went away between opening and reading
        click.echo(f"BROKEN: cannot read the database: {db.short_error(exc)}", err=True)
        ctx.exit(BROKEN)
    finally:
        engine.dispose()
    if prometheus:
        click.echo(exposition(report, report["exit_code"], now), nl=False)
    elif as_json:
        click.echo(json_line(report_json(report)))
    else:
        # Server error text is shown as it came: cleaned for the terminal.
        for line in _lines(report, config.desk.tz):
            click.echo(clean_text(line))
    ctx.exit(report["exit_code"])


def _lines(report: dict, tz: tzinfo) -> list[str]:
    """The report for people, one line per part, in Chinese with times in `tz` to the minute
    (the problems and notices said by ingest.desk.findings)."""
    when = lambda value, none="-": local_minute(value, tz) or none  # noqa: E731
    problems = [chinese(f, tz) for f in report["problems"]]
    lines = ["正常" if report["healthy"] else "异常：" + "；".join(problems)]
    lines += [f"注意：{chinese(notice, tz)}" for notice in report["notices"]]
    for box in report["mailboxes"]:
        lines.append(
            f"邮箱 {box['name']}：上次成功 {when(box['last_success'], '从未')}，"
            f"UIDVALIDITY {box['uidvalidity']}，最后 UID {box['last_uid']}"
            + (
                f"，上次错误 {when(box['last_error_at'])}：{box['last_error']}"
                if box["last_error"]
                else ""
            )
        )
    o = report["outbox"]
    lines.append(
        f"发件箱：待发送 {o['queued']}，发送失败 {o['failed']}"
        f"（最早失败 {when(o['oldest_failure'])}），已发送 {o['sent']}，"
        f"7 天内退信 {o['bounced_7d']}，因限额暂缓 {o.get('held', 0)}"
    )
    drained = o["last_drain"]
    if drained:
        lines.append(
            f"发件箱：上次发送 {when(drained['at'])} "
            + ("成功" if drained["ok"] else f"失败：{drained['error']}")
        )
    lines.append(f"数据库版本：{report['database']['revision']}")
    return lines
