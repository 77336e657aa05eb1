"""What the commands share: the checked config, JSON lines safe on a terminal, date options."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import click

from ingest.config import Config, ConfigError, load_config, parse_duration


def config_of(ctx: click.Context, required: bool = True) -> Config:
    """The checked config; only commands that touch no mailbox or database run without one."""
    try:
        return load_config(ctx.obj["config_path"], required=required)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc


def cannot_write(where: str, exc: OSError) -> click.ClickException:
    """A file or folder a command could not write, in one line (never a traceback)."""
    reason = exc.strerror or type(exc).__name__
    named = f" ({exc.filename})" if exc.filename and str(exc.filename) != where else ""
    return click.ClickException(f"cannot write {where}{named}: {reason}")


def json_line(value) -> str:
    """One JSON line of data from mail or the database, safe on a terminal: json.dumps escapes
    C0 controls but not C1 or bidi controls, so every string is cleaned first."""
    from ingest.reading.clean_text import clean_json  # with the first line (cron's poll: none)

    return clean_json(value)


def since_date(value: str | None) -> datetime | None:
    """A --since date such as 2024-03-01 (UTC unless it names its zone)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date like 2024-03-01") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def wall_clock() -> datetime:
    """The one reading of the wall clock. A command reads it once (a worker once per cycle) and
    passes the time down; nothing below the CLI reads the clock on its own (SPEC §13)."""
    return datetime.now(UTC)


def _parse_now(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise click.BadParameter(
            f"expected ISO-8601 with a zone, such as 2026-11-30T09:00+08:00, not {value!r}"
        )
    return moment.astimezone(UTC)


# `--now`: the desk acts as of this time (SPEC §12), for replaying a week in seconds and testing.
now_option = click.option(
    "--now",
    metavar="ISO-8601",
    callback=_parse_now,
    help="Act as of this time, with its zone (2026-11-30T09:00+08:00); default: the clock.",
)


SPAN = re.compile(r"\s*\d+\s*[A-Za-z]+\s*")  # 30d, 1mo, 90min (1m too: refused as ambiguous)


class BadOption(click.ClickException):
    """A bad option value: one line on stderr and exit 2, as click's usage errors exit."""

    exit_code = 2


def parse_moment(value: str, option: str, now: datetime) -> datetime:
    """An ISO date or time (UTC unless it gives an offset), or a span back from `now` such as
    `30d`, `24h` or `2w`."""
    if SPAN.fullmatch(value):  # the config's spans: 90min, 24h, 7d, 2w, 1mo (not 1m)
        try:
            return now - parse_duration(value)
        except ValueError as exc:
            raise BadOption(f"{option}: {exc}") from None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadOption(
            f"{option}: expected a date such as 2026-11-01 or a span back from now such as "
            f"30d, 24h, 2w or 1mo, not {value!r}"
        ) from None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
