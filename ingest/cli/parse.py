"""`gongdan parse`: email files read as tickets, for people or as JSON; no database, no network."""

from __future__ import annotations

from pathlib import Path

import click

from ingest.cli.common import config_of, json_line
from ingest.config import Config
from ingest.reading.clean_text import clean_text
from ingest.reading.email_reader import NotAnEmail
from ingest.reading.fields import catalog
from ingest.reading.limits import TooSlow
from ingest.reading.phones import mask_phone
from ingest.reading.ticket import read_ticket
from ingest.rules.decide import message_action


def _parse_one(path: str, config: Config) -> dict:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return {"file": path, "error": f"cannot read file: {exc.strerror or exc}"}
    try:
        reading = read_ticket(raw, config.desk)
    except (NotAnEmail, TooSlow) as exc:
        return {"file": path, "error": str(exc)}
    except Exception as exc:  # one bad file never stops the others
        return {"file": path, "error": f"cannot read email: {type(exc).__name__}: {exc}"}
    result = {"file": path, **reading.as_json()}
    attachments = result.pop("attachments")
    result["action"], result["attachments"] = message_action(reading), attachments
    return result


def _summary(result: dict) -> str:
    """The people's view of one parsed file; every value in it is cleaned (clean_text)."""
    return clean_text(_summary_lines(result))


def _summary_lines(result: dict) -> str:
    if "error" in result:
        return f"{result['file']}: ERROR {result['error']}"
    labels = {s.key: s.label for s in catalog().fields}
    lines = [
        f"{result['file']}",
        f"  subject:   {result['subject']}",
        f"  from:      {result['from']}",
        f"  template:  {result['template']}   complete: {'yes' if result['complete'] else 'no'}"
        f"   action: {result['action']}"
        + ("   (automatic mail)" if result["auto_submitted"] else ""),
    ]
    for key, value in result["fields"].items():
        shown = mask_phone(value) if key == "phone" else value
        lines.append(
            f"  {labels[key]}: {shown.splitlines()[0] if shown else ''}"
            + (" …" if "\n" in shown else "")
        )
    if result["order_time"]:
        lines.append(f"  order time: {result['order_time']}")
    if result["missing"]:
        lines.append("  missing:   " + ", ".join(labels[k] for k in result["missing"]))
    for key, reason in result["invalid"].items():
        lines.append(f"  invalid:   {labels[key]}: {reason}")
    for warning in result["warnings"]:
        lines.append(f"  warning:   {warning}")
    for code in result["stop_codes"]:
        lines.append(f"  stop code: {code['vendor']} {code['code']} {code['meaning']}")
    return "\n".join(lines)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, one per line.")
@click.pass_context
def parse(ctx: click.Context, files: tuple[str, ...], as_json: bool) -> None:
    """Read email files as tickets, without a database or network.

    Example: gongdan parse --json inbox/*.eml
    """
    config = config_of(ctx, required=False)
    failed = 0
    for path in files:
        result = _parse_one(path, config)
        failed += "error" in result
        if as_json:
            click.echo(json_line(result))
        else:
            click.echo(_summary(result))
    if failed:
        click.echo(
            f"gongdan: {failed} of {len(files)} file(s) could not be read as email", err=True
        )
        ctx.exit(1)
