"""The `gongdan` command group: each command's module is imported only when that command runs."""

from __future__ import annotations

import importlib
import sys

import click

# Start-up: cron runs gongdan every minute, and `--help`, `parse` and `decode` must not pay for
# the database. So this module loads click alone; a command's module, with SQLAlchemy, rich or
# the poll cycle at its top, is imported when the command is run (or its own --help is asked).
# name: (module, attribute, the first sentence of its help, shown by `gongdan --help`)
COMMANDS = {
    "db": ("ingest.cli.database", "db_group", "Create and upgrade the database."),
    "decode": ("ingest.cli.decode", "decode", "Decode charger stop-reason codes."),
    "demo": (
        "ingest.cli.demo",
        "demo",
        "Run the desk on the sample operator emails: Maildir in, Maildir outbox, SQLite.",
    ),
    "digest": (
        "ingest.cli.digest",
        "digest",
        "Mail the engineers a digest of the period: counts, open tickets, stop-code and "
        "operator charts.",
    ),
    "export": (
        "ingest.cli.tickets",
        "export_command",
        "Write every ticket with its messages, history and outbox as JSON Lines, oldest first, "
        "then the stored messages that belong to no ticket.",
    ),
    "import": (
        "ingest.cli.running",
        "import_command",
        "Load .eml files, mbox files or Maildirs into the database (a mailbox backfill).",
    ),
    "outbox": (
        "ingest.cli.outbox",
        "outbox_group",
        "Look at and retry the replies waiting to go out, see those that bounced, and release "
        "those the daily limit held back.",
    ),
    "parse": (
        "ingest.cli.parse",
        "parse",
        "Read email files as tickets, without a database or network.",
    ),
    "poll": (
        "ingest.cli.running",
        "poll",
        "Take new mail from every mailbox, store it, queue replies and reminders, send the outbox.",
    ),
    "remind": (
        "ingest.cli.remind",
        "remind",
        "Remind operators who were asked for information and have not answered, then send.",
    ),
    "send": (
        "ingest.cli.running",
        "send",
        "Send the replies that are due, as `gongdan poll` does at the end of its cycle.",
    ),
    "stats": (
        "ingest.cli.stats",
        "stats",
        "Stop codes and tickets of a period, by stop code, pile, station or operator, largest "
        "first.",
    ),
    "status": (
        "ingest.cli.status",
        "status_command",
        "Health: each mailbox's last cycle and error, the outbox, the database revision.",
    ),
    "tickets": ("ingest.cli.tickets", "tickets", "List, show, merge and close tickets."),
}


class LazyGroup(click.Group):
    """A group whose commands, listed in COMMANDS, are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            module, attribute, _ = COMMANDS[name]
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return self.commands.get(name)

    def resolve_command(self, ctx: click.Context, args: list[str]):
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:  # suggest the close names not loaded yet
            raise click.exceptions.NoSuchCommand(
                exc.command_name, possibilities=self.list_commands(ctx), ctx=ctx
            ) from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from COMMANDS, so that `gongdan --help` imports no command."""
        names = [name for name in self.list_commands(ctx) if name in COMMANDS]
        limit = formatter.width - 6 - max(map(len, names))
        # Shortened as click shortens a loaded command's help.
        rows = [(n, click.Command(n, help=COMMANDS[n][2]).get_short_help_str(limit)) for n in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gongdan", message="gongdan %(version)s")
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    envvar="GONGDAN_CONFIG",
    help="Config file (default: $GONGDAN_CONFIG or ./gongdan.toml).",
)
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """gongdan (工单): the after-sales email desk for EV-charging operators."""
    ctx.obj = {"config_path": config_path}


def main() -> None:
    try:
        cli.main(prog_name="gongdan", standalone_mode=True)
    except BrokenPipeError:
        sys.exit(0)


if __name__ == "__main__":
    main()
