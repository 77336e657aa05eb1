"""`gongdan stats`: the monthly review's counts as a terminal table, aligned text, CSV or JSON."""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from datetime import UTC, datetime, timedelta, tzinfo

import click

from ingest.cli.common import BadOption, config_of, now_option, parse_moment, wall_clock
from ingest.cli.csv_cells import csv_text
from ingest.cli.database import database
from ingest.reading import stopcodes
from ingest.reading.clean_text import clean_data
from ingest.reading.display_words import age_zh, vendor_label
from ingest.store.stats import row_keys
from ingest.store.stats import stats as count
from replies.local_time import local_minute

# This module is imported only when `gongdan stats` runs (ingest.cli.main.COMMANDS); rich is
# imported only when the table goes to a terminal.

GROUPINGS = ("code", "pile", "station", "operator", "engineer")  # ingest.store.stats.GROUPINGS
FORMATS = ("table", "csv", "json")
DEFAULT_SINCE = "30d"
# Column titles of the table and the CSV header, for people (JSON keys stay English).
TITLES = {
    "code": "停止代号",
    "vendor": "厂家",
    "meaning": "含义",
    "hits": "次数",
    "tickets": "工单数",
    "piles": "涉及桩数",
    "pile": "充电桩号",
    "station": "桩站名称",
    "operator": "运营商",
    "opened": "新建",
    "resolved": "已解决",
    "open": "未解决",
    "stop_code_hits": "代号次数",
    "top_code": "最常见代号",
    "top_code_vendor": "最常见代号厂家",
    "top_code_meaning": "最常见代号含义",
    "resolution_median_hours": "解决时长中位数",
    "engineer": "工程师",
    "taken": "接单数",
    "first_response_median_hours": "首次响应中位数",
    "first_response_p90_hours": "首次响应P90",
    "reopened": "重新打开",
}
HOURS = {k for k in TITLES if k.endswith("_hours")}  # the table says them as 2天3小时
UNKNOWN_KEY = "(未填写)"  # tickets that do not give the pile, station or operator
UNASSIGNED = "(未指派)"
BY_LABELS = {
    "code": "停止代号",
    "pile": "充电桩",
    "station": "桩站",
    "operator": "运营商",
    "engineer": "工程师",
}
_NUMBERS = {"hits", "tickets", "piles", "opened", "resolved", "open", "stop_code_hits"}
_NUMBERS |= {"taken", "reopened"} | HOURS
VENDORS = ("vendor", "top_code_vendor")  # named as people name them: 盛弘, not sinexcel
MONTH = re.compile(r"(\d{4})-(\d{1,2})")


def _one_of(choices: tuple[str, ...]):
    def check(ctx: click.Context, param: click.Parameter, value: str) -> str:
        if value not in choices:
            raise BadOption(f"{param.opts[0]}: expected one of {', '.join(choices)}, not {value!r}")
        return value

    return check


def parse_month(value: str, tz: tzinfo) -> tuple[datetime, datetime]:
    """`2026-11`: [its first midnight, the next month's) in `tz`, as UTC."""
    m = MONTH.fullmatch(value.strip())
    if not m or not 1 <= int(m[2]) <= 12:
        raise BadOption(f"--month: expected a month such as 2026-11, not {value!r}")
    year, month = int(m[1]), int(m[2])
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def period_line(start: datetime, end: datetime, tz: tzinfo) -> str:
    """`统计区间：2026-11-01 00:00 至 2026-12-01 00:00（Asia/Shanghai）`."""
    return f"统计区间：{local_minute(start, tz)} 至 {local_minute(end, tz)}（{tz}）"


def _hours_text(value) -> str | None:
    return None if value is None else age_zh(timedelta(hours=value))


def _table_keys(by: str) -> list[str]:
    if by == "code":
        return ["code", "vendor", "meaning", "hits", "tickets", "piles"]
    if by == "engineer":
        return list(row_keys(by))
    keys = [by, "opened", "resolved", "open", "stop_code_hits", "top_code"]
    return [*keys, "resolution_median_hours"]


def _table_rows(rows: list[dict], by: str) -> tuple[list[str], list[list[str]]]:
    """The table's titles and its cells as one-line text ("-" where there is no value)."""
    keys = _table_keys(by)
    cells = []
    for row in rows:
        line = []
        for key in keys:
            value = row.get(key)
            if key == "top_code" and value is not None:
                value = f"{value} {row['top_code_meaning'] or ''}".strip()
            elif key in VENDORS:
                value = vendor_label(value, stopcodes.vendor_names())
            elif key in HOURS:
                value = _hours_text(value)
            elif key == by and value is None:
                value = UNASSIGNED if by == "engineer" else UNKNOWN_KEY
            line.append("-" if value is None else re.sub(r"\s+", " ", str(value)))
        cells.append(line)
    return keys, cells


def _width(text: str) -> int:
    """Terminal cells `text` takes: Chinese characters take two."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * (width - _width(text))
    return fill + text if right else text + fill


def plain_table(rows: list[dict], by: str) -> str:
    """Columns aligned with spaces, for a pipe or a file: no colours, no box, no wrapping."""
    keys, cells = _table_rows(rows, by)
    titles = [TITLES[k] for k in keys]
    widths = [max(_width(s) for s in col) for col in zip(titles, *cells, strict=True)]
    lines = []
    for line in [titles, *cells]:
        padded = [_pad(s, w, k in _NUMBERS) for s, w, k in zip(line, widths, keys, strict=True)]
        lines.append("  ".join(padded).rstrip())
    return "\n".join(lines)


def rich_table(console, rows: list[dict], by: str, title: str) -> None:
    from rich.table import Table
    from rich.text import Text

    keys, cells = _table_rows(rows, by)
    table = Table(title=title)
    for key in keys:
        if key in _NUMBERS:
            table.add_column(TITLES[key], justify="right", no_wrap=True)
        elif key == keys[0]:  # a pile number reads whole, on one line: the others wrap first
            table.add_column(TITLES[key], no_wrap=True, overflow="fold")
        else:
            table.add_column(TITLES[key], overflow="fold")
    for line in cells:
        table.add_row(*(Text(s) for s in line))  # mail text is never read as rich markup
    console.print(table)


def as_csv(rows: list[dict], by: str) -> str:
    """The rows under Chinese titles, vendors by their Chinese names; times in hours."""
    names = stopcodes.vendor_names()
    shown = [
        {TITLES[k]: vendor_label(v, names) if k in VENDORS else v for k, v in row.items()}
        for row in rows
    ]
    return csv_text(shown, [TITLES[k] for k in row_keys(by)])


def as_json(rows: list[dict]) -> str:
    return json.dumps(rows, ensure_ascii=False, indent=2) + "\n"


@click.command("stats")
@click.option(
    "--since",
    help="Start of the period: a date (2026-11-01, UTC unless an offset is given) or a span "
    "back from now (30d, 24h, 2w, 1mo; 90min for minutes). Default: 30d.",
)
@click.option(
    "--month",
    metavar="YYYY-MM",
    help="A calendar month in [desk] timezone (2026-11), instead of --since/--until.",
)
@click.option(
    "--until", help="End of the period, not included, written like --since (default: now)."
)
@click.option(
    "--by",
    default="code",
    show_default=True,
    metavar="|".join(GROUPINGS),
    callback=_one_of(GROUPINGS),
    help="Count stop codes (code), or tickets and their stop codes per pile, station or "
    "operator, or each engineer's tickets, response and resolution times (engineer).",
)
@click.option(
    "--format",
    "output",
    default="table",
    show_default=True,
    metavar="|".join(FORMATS),
    callback=_one_of(FORMATS),
    help="table: a table on a terminal, aligned text in a pipe; csv: UTF-8 with a header row; "
    "json: a list of objects.",
)
@now_option
@click.pass_context
def stats(
    ctx: click.Context,
    since: str | None,
    month: str | None,
    until: str | None,
    by: str,
    output: str,
    now: datetime | None,
) -> None:
    """Stop codes and tickets of a period, by stop code, pile, station or operator, largest first.

    By code: each stop code's hits (read from mail received in the period), tickets and piles.
    By pile, station or operator: tickets opened and resolved in the period, those open now,
    the period's stop-code hits, the most frequent code and the median time to resolve.
    By engineer: tickets taken, first-response median and p90, tickets resolved and the median
    time to resolve them, tickets reopened.

    Example: gongdan stats --month 2026-11 --by engineer --format csv > engineers.csv
    """
    if month and (since or until):
        raise BadOption("--month is a whole calendar month: give it without --since or --until")
    config = config_of(ctx)
    tz = config.desk.tz
    now = now or wall_clock()
    if month:
        start, end = parse_month(month, tz)
    else:
        start = parse_moment(since or DEFAULT_SINCE, "--since", now)
        end = parse_moment(until, "--until", now) if until else now
    if start >= end:
        raise BadOption(f"--since ({start.isoformat()}) must be before --until ({end.isoformat()})")

    addresses = [e.address for e in config.engineers]
    with database(config) as engine, engine.connect() as conn:
        rows = clean_data(count(conn, by, start, end, addresses))
    if output == "csv":
        # With a byte-order mark: Excel, where the monthly review opens it, reads UTF-8 only so.
        click.echo(as_csv(rows, by).encode("utf-8-sig"), nl=False)
    elif output == "json":
        click.echo(as_json(rows).encode("utf-8"), nl=False)
    elif sys.stdout.isatty():
        from rich.console import Console
        from rich.text import Text

        console = Console()
        console.print(Text(period_line(start, end, tz)))
        rich_table(console, rows, by, f"按{BY_LABELS[by]}统计")
    else:
        click.echo(period_line(start, end, tz))
        click.echo(plain_table(rows, by))
