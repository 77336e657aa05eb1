"""The documentation keeps up with the CLI: every command has help with an example, every option
says what it does, and the README's "Command line" block lists every command."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from ingest.cli.main import COMMANDS as LISTED
from ingest.cli.main import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    """Every command and subcommand as ("tickets list", command), groups included (the top group
    imports a command's module when asked for it)."""
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        path = f"{prefix}{name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += _commands(command, path + " ")
    return found


COMMANDS = _commands(cli)
LEAVES = [(path, command) for path, command in COMMANDS if not isinstance(command, click.Group)]


def _readme_block() -> str:
    text = README.read_text("utf-8")
    found = re.search(r"^## Command line\n+```sh\n(.*?)^```", text, re.M | re.S)
    assert found, "README.md has no ```sh block under '## Command line'"
    return found.group(1)


def test_the_walk_finds_the_subcommands():
    paths = [path for path, _ in COMMANDS]
    assert {"parse", "db", "db upgrade", "tickets list", "outbox retry"} <= set(paths)


@pytest.mark.parametrize("path, command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_command_has_help_with_an_example(path, command):
    assert command.help and command.help.strip(), f"gongdan {path} has no help text"
    example = re.search(r"^\s*Example: (gongdan .+)$", command.help, re.M)
    assert example, f"gongdan {path}: its help has no 'Example: gongdan ...' line"
    assert path.split()[0] in example.group(1).split(), f"gongdan {path}: an example of another"


@pytest.mark.parametrize("path, command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_option_says_what_it_does(path, command):
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"gongdan {path} {param.opts[0]} has no help text"


@pytest.mark.parametrize("path", [p for p, _ in LEAVES])
def test_command_is_in_the_readme(path):
    assert re.search(rf"^gongdan {re.escape(path)}\b", _readme_block(), re.M), (
        f"`gongdan {path}` is missing from the README's Command line block"
    )


@pytest.mark.parametrize("name", sorted(LISTED))
def test_the_listed_summary_is_the_commands_own(name):
    """`gongdan --help` lists commands without importing them, from its COMMANDS: it must say what
    the command's own help says first."""
    command = cli.get_command(click.Context(cli), name)
    assert LISTED[name][2] == command.get_short_help_str(limit=1000)
