"""`gongdan decode`: charger stop-reason codes looked up in the vendors' tables."""

from __future__ import annotations

import json

import click

from ingest.cli.common import config_of
from ingest.reading import stopcodes


@click.command()
@click.argument("codes", nargs=-1, type=int)
@click.option(
    "--vendor", default=None, help="Vendor table (default: the configured default_vendor)."
)
@click.option("--list", "list_all", is_flag=True, help="Print the vendor's whole table.")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
def decode(
    ctx: click.Context, codes: tuple[int, ...], vendor: str | None, list_all: bool, as_json: bool
) -> None:
    """Decode charger stop-reason codes.

    Example: gongdan decode 34 2 99 --vendor sinexcel
    """
    config = config_of(ctx, required=False)
    tables = stopcodes.vendors(config.desk.stopcode_dir or None)
    vendor = vendor or config.desk.default_vendor
    if vendor not in tables:
        raise click.ClickException(f"unknown vendor {vendor!r}; known: {', '.join(sorted(tables))}")
    table = tables[vendor]
    if list_all:
        rows = [{**table.lookup(c), "note": table.codes[c].note} for c in sorted(table.codes)]
    elif codes:
        rows = stopcodes.decode_codes(list(dict.fromkeys(codes)), vendor, tables)
    else:
        raise click.UsageError("give one or more CODES, or --list")
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, ensure_ascii=False))
        else:
            note = f"  ({row['note']})" if row.get("note") else ""
            click.echo(f"{row['code']:>4}  {row['meaning']}{note}")
