"""The documentation keeps up with the CLI: every command has help with an example, every option
says what it does, and the README's "Command line" block lists every command. The README and
every docs/*.md name only commands, options and config keys that exist, and link only to files
that exist; the README stays a front door (at most 250 lines) that links every file of docs/."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from ingest.cli.main import COMMANDS as LISTED
from ingest.cli.main import cli
from ingest.config import schema_keys

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
DOC_FILES = [README, *DOCS]
DOC_IDS = [path.relative_to(ROOT).as_posix() for path in DOC_FILES]
BENCH = ROOT / "tests" / "bench"
README_MAX_LINES = 250


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


# What the documents name: commands, options, config keys, links.

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"`([^`]+)`")
# `gongdan` as a shell word, or a venv's .../bin/gongdan; not /srv/gongdan/ nor gongdan.toml.
GONGDAN = re.compile(r"(?:^|(?<=[\s(;&|]))(?:\S*/bin/)?gongdan(?=\s|$)")
SHELL_STOP = {">", ">>", "|", "||", "&&", ";", "<"}
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
BENCH_SCRIPT = re.compile(r"tests/bench/(\w+\.py)")
TABLE_KEY = re.compile(r"^\[\[?(\w+)\]\]?(?:\s+(\w+))?")
KEY_IN_TABLE = re.compile(r"`(\w+)` \(in `\[\[?(\w+)\]\]?`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)[^)]*\)")

CONFIG_KEYS = set(schema_keys())
# A TOML table a document may name: the config file's, or a stop-code file's (`[[code]]`).
TABLES = {key.split(".")[0] for key in CONFIG_KEYS} | {
    table
    for path in (ROOT / "ingest" / "data" / "stopcodes").glob("*.toml")
    for table in re.findall(r"^\[\[?(\w+)\]\]?", path.read_text("utf-8"), re.M)
}


def _text(path: Path) -> str:
    return path.read_text("utf-8")


def _code(text: str) -> list[str]:
    """The code of a Markdown text: every line of its fenced blocks, and every inline code span
    of the prose around them (a span may wrap onto the next line)."""
    pieces = [line for _, block in FENCE.findall(text) for line in block.splitlines()]
    pieces += [" ".join(span.split()) for span in INLINE.findall(FENCE.sub("", text))]
    return pieces


def _prose(text: str) -> str:
    """The text without its code, where Markdown links live."""
    return INLINE.sub("", FENCE.sub("", text))


def _options(command: click.Command) -> dict[str, bool]:
    """Each option string of a command (and --help), and whether it takes a value."""
    found = {"--help": False}
    for param in command.params:
        if isinstance(param, click.Option):
            for name in param.opts + param.secondary_opts:
                found[name] = not (param.is_flag or param.count)
    return found


ALL_OPTIONS = {name for command in [cli] + [c for _, c in COMMANDS] for name in _options(command)}


def _invocations(piece: str) -> list[list[str]]:
    """The words after each `gongdan` of a piece of code, up to a shell operator or a comment; an
    inline span that starts with a command's name (`poll --now`, `tickets show N`) is one too."""
    piece = re.split(r"(?:^|\s)#", piece, maxsplit=1)[0]  # a comment names, it does not run
    found = []
    for match in GONGDAN.finditer(piece):
        words = []
        for word in piece[match.end() :].split():
            if word in SHELL_STOP:
                break
            words.append(word)
        found.append(words)
    words = piece.split()
    if not found and len(words) > 1 and words[0] in cli.list_commands(click.Context(cli)):
        found.append(words)
    return found


def _invocation_problems(words: list[str]) -> list[str]:
    """What is wrong with `gongdan WORDS...`: a command or subcommand that does not exist, or an
    option that the command does not have. Placeholders and values are not judged."""
    command, path, problems = cli, "gongdan", []
    words = [word.strip("[]") for word in words]
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            options = _options(command)
            if name not in options:
                problems.append(f"`{path}` has no option {name}")
            elif options[name] and "=" not in word:
                index += 1  # its value
        elif isinstance(command, click.Group) and re.fullmatch(r"[a-z][a-z-]*", word):
            sub = command.get_command(click.Context(command), word)
            if sub is None:
                problems.append(f"`{path} {word}`: no such command")
                break
            command, path = sub, f"{path} {word}"
    return problems


def _bench_options(script: str) -> set[str]:
    """The options a benchmark script defines (every "--name" string in it)."""
    path = BENCH / script
    if not path.exists():
        return set()
    return set(re.findall(r"[\"'](--[a-z][a-z0-9-]*)[\"']", _text(path)))


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


def test_the_readers_find_what_they_should():
    """The readers above take commands, options and keys as meant, so the checks are not empty."""
    line = "cd /srv/gongdan && /srv/gongdan/venv/bin/gongdan --config g.toml db upgrade > x  # y"
    assert _invocations(line) == [["--config", "g.toml", "db", "upgrade"]]
    assert _invocations("gongdan.toml in /srv/gongdan/") == []
    assert _invocations("./scripts/demo.sh  # installs gongdan and runs it") == []
    assert _invocations("poll --now") == [["poll", "--now"]]
    assert _invocation_problems(["--config", "g.toml", "db", "upgrade"]) == []
    assert _invocation_problems(["tickets", "shw"]) == ["`gongdan tickets shw`: no such command"]
    assert _invocation_problems(["poll", "[--lop]"]) == ["`gongdan poll` has no option --lop"]
    assert TABLE_KEY.match("[desk] parallel = false").groups() == ("desk", "parallel")
    assert DOCS, "docs/ has no .md file"
    named = [w for path in DOC_FILES for piece in _code(_text(path)) for w in _invocations(piece)]
    assert len(named) > len(LEAVES)


@pytest.mark.parametrize("doc", DOC_FILES, ids=DOC_IDS)
def test_the_commands_named_exist(doc):
    problems = [
        problem
        for piece in _code(_text(doc))
        for words in _invocations(piece)
        for problem in _invocation_problems(words)
    ]
    assert not problems, f"{doc.name}: " + "; ".join(problems)


@pytest.mark.parametrize("doc", DOC_FILES, ids=DOC_IDS)
def test_the_options_named_exist(doc):
    """Every --option is gongdan's, or that of the tests/bench/ script it follows; one named
    alone is some gongdan command's or some benchmark script's."""
    bench = {name for script in BENCH.glob("*.py") for name in _bench_options(script.name)}
    unknown = set(OPTION.findall(_text(doc))) - ALL_OPTIONS - bench
    for piece in _code(_text(doc)):
        script = BENCH_SCRIPT.search(piece)
        if script:
            after = OPTION.findall(piece.split("#", 1)[0][script.end() :])
            unknown |= {f"{name} ({script.group(1)})" for name in after} - {
                f"{name} ({script.group(1)})" for name in _bench_options(script.group(1))
            }
    assert not unknown, f"{doc.name} names options that do not exist: {sorted(unknown)}"


@pytest.mark.parametrize("doc", DOC_FILES, ids=DOC_IDS)
def test_the_config_keys_named_exist(doc):
    """`[table] key`, `key` (in `[table]`), a `[table]` alone, and a ```toml block's keys."""
    text = _text(doc)
    wrong = []
    for piece in INLINE.findall(FENCE.sub("", text)):
        found = TABLE_KEY.match(piece)
        if found and found.group(1) not in TABLES:
            wrong.append(f"[{found.group(1)}]")
        elif found and found.group(2) and f"{found.group(1)}.{found.group(2)}" not in CONFIG_KEYS:
            wrong.append(f"[{found.group(1)}] {found.group(2)}")
    for key, table in KEY_IN_TABLE.findall(" ".join(text.split())):
        if f"{table}.{key}" not in CONFIG_KEYS:
            wrong.append(f"[{table}] {key}")
    for info, block in FENCE.findall(text):
        if info.strip() != "toml":
            continue
        table = ""
        for line in block.splitlines():
            header = re.match(r"\s*\[\[?(\w+)\]\]?", line)
            setting = re.match(r"#?\s*(\w+)\s*=", line)
            if header:
                table = header.group(1)
            elif setting and f"{table}.{setting.group(1)}" not in CONFIG_KEYS:
                wrong.append(f"[{table}] {setting.group(1)}")
    assert not wrong, f"{doc.name} names config keys that do not exist: {wrong}"


@pytest.mark.parametrize("doc", DOC_FILES, ids=DOC_IDS)
def test_relative_links_point_to_files(doc):
    broken = []
    for target in LINK.findall(_prose(_text(doc))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL, a mailto: or an anchor of the same page
        if not (doc.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    assert not broken, f"{doc.name} links to files that do not exist: {broken}"


def test_the_readme_is_a_front_door():
    lines = _text(README).splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move a section to docs/"
    )
    targets = LINK.findall(_prose(_text(README)))
    linked = {(ROOT / target.split("#", 1)[0]).resolve() for target in targets}
    unlinked = [path.name for path in DOCS if path.resolve() not in linked]
    assert not unlinked, f"README.md does not link docs/{unlinked}"
