"""The configuration file as an admin writes it: one schema, checked whole before anything runs."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli.main import cli
from ingest.config import (
    ConfigError,
    load_config,
    parse_config,
    read_secret,
    schema_keys,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "config.example.toml"
SECRET = "Hunter2-s3cret!pw"  # must never appear in any output

MINIMAL = """\
[[mailbox]]
name = "support"
kind = "maildir"
path = "inbox"

[outgoing]
kind = "maildir"
path = "outbox"
from_address = "support@gongdan.example.cn"
"""

# (why, the file's text, words the one error line must hold: the key first)
BAD_CONFIGS = [
    (
        "text for a number",
        '[desk]\ndaily_reply_limit = "ten"\n',
        ["[desk]", "daily_reply_limit", "whole number", "'ten'"],
    ),
    ("text for a list", '[desk]\noperator_domains = "op.cn"\n', ["operator_domains", "list"]),
    ("number for the url", "[database]\nurl = 5\n", ["[database]", "url", "text"]),
    ("not a url", '[database]\nurl = "not a url"\n', ["[database]", "url", "not a database URL"]),
    (
        "mysql",
        f'[database]\nurl = "mysql://root:{SECRET}@127.0.0.1/gd"\n',
        ["url", "unsupported database 'mysql'", "only sqlite and postgresql"],
    ),
    (
        "postgres:// spelling",
        '[database]\nurl = "postgres://gd@127.0.0.1/gd"\n',
        ["url", "postgresql://"],
    ),
    ("number for a path", '[[mailbox]]\nkind = "maildir"\npath = 5\n', ["[[mailbox]] #1", "path"]),
    (
        "engineer without address",
        '[[engineer]]\nname = "小明"\n',
        ["[[engineer]] #1", "address is required"],
    ),
    (
        "engineer address not an address",
        '[[engineer]]\nname = "小明"\naddress = "小明"\n',
        ["[[engineer]] #1", "address", "email address"],
    ),
    (
        "misspelt key",
        '[digest]\nrecipient = ["a@example.cn"]\n',
        ["[digest]", "unknown key recipient", "did you mean recipients?"],
    ),
    (
        "misspelt desk key",
        "[desk]\ndaily_limit = 3\n",
        ["daily_limit", "did you mean daily_reply_limit?"],
    ),
    ("unknown table", "[bogus]\nx = 1\n", ["unknown table [bogus]", "known: database"]),
    ("unknown top-level key", 'url = "sqlite:///x.db"\n', ["unknown key url"]),
    (
        "unknown mailbox kind",
        '[[mailbox]]\nkind = "pop3"\n',
        ["[[mailbox]] #1", "kind", '"imap", "maildir"', "'pop3'"],
    ),
    (
        "imap without host",
        ('[[mailbox]]\nkind = "imap"\nusername = "s@example.cn"\npassword_env = "GD_PW"\n'),
        ["[[mailbox]] #1", "host is required"],
    ),
    (
        "imap without username",
        '[[mailbox]]\nkind = "imap"\nhost = "127.0.0.1"\n',
        ["[[mailbox]] #1", "username is required"],
    ),
    ("smtp without host", '[outgoing]\nkind = "smtp"\n', ["[outgoing]", "host is required"]),
    (
        "unknown security",
        '[outgoing]\nkind = "maildir"\nsecurity = "ssl"\n',
        ["[outgoing]", "security", '"tls", "starttls", "plain"'],
    ),
    (
        "text for a port",
        '[[mailbox]]\nkind = "imap"\nhost = "h"\nusername = "u"\nport = "993"\n',
        ["[[mailbox]] #1", "port", "whole number"],
    ),
    (
        "connections out of range",
        "[outgoing]\nconnections = 0\n",
        ["[outgoing]", "connections", "from 1 to 10"],
    ),
    ("text for a flag", '[desk]\nparallel = "yes"\n', ["[desk]", "parallel", "true or false"]),
    (
        "text for seconds",
        '[desk]\nseconds_per_message = "20s"\n',
        ["seconds_per_message", "number"],
    ),
    (
        "a number in a list",
        '[desk]\noperator_domains = ["op.cn", 5]\n',
        ["operator_domains item 2", "text"],
    ),
    (
        "unknown required field",
        '[desk]\nrequired_detailed = ["oder_no"]\n',
        ["required_detailed", "'oder_no'", "did you mean order_no?"],
    ),
    ("vendor without a table", '[desk]\ndefault_vendor = "nope"\n', ["default_vendor", "'nope'"]),
    (
        "[mailbox] for [[mailbox]]",
        '[mailbox]\nkind = "maildir"\n',
        ["[[mailbox]]", "list of tables"],
    ),
    ("a table as a number", "desk = 5\n", ["[desk]", "a table"]),
    (
        "inline password",
        f'[[mailbox]]\nname = "x"\npassword = "{SECRET}"\n',
        ["[[mailbox]] #1", "inline `password` is not allowed"],
    ),
    (
        "the secret pasted as password_env",
        f'[outgoing]\nkind = "maildir"\npassword_env = "{SECRET}"\n',
        ["[outgoing]", "password_env must name an environment variable"],
    ),
    (
        "password_env and password_file",
        ('[outgoing]\npassword_env = "GD_PW"\npassword_file = "/run/pw"\n'),
        ["[outgoing]", "not both"],
    ),
    (
        "recipients not addresses",
        '[digest]\nrecipients = ["aftersales"]\n',
        ["[digest]", "recipients"],
    ),
    ("not TOML", "[desk\n", ["not valid TOML"]),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty current folder with no config around, as cron might start gongdan."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GONGDAN_CONFIG", raising=False)
    return tmp_path


def _one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no uncaught error
    return lines[0]


@pytest.mark.parametrize("why,text,words", BAD_CONFIGS, ids=[case[0] for case in BAD_CONFIGS])
def test_a_bad_config_is_one_line_naming_the_key_and_nothing_runs(workdir, why, text, words):
    (workdir / "gongdan.toml").write_text(text, "utf-8")
    # The mail the poll would take, if anything ran: it must still be there, untouched.
    for sub in ("new", "cur", "tmp"):
        (workdir / "inbox" / sub).mkdir(parents=True)
    (workdir / "inbox" / "new" / "1.eml").write_bytes(b"Subject: x\r\n\r\nx\r\n")
    before = sorted(p.relative_to(workdir) for p in workdir.rglob("*"))
    result = CliRunner().invoke(cli, ["--config", str(workdir / "gongdan.toml"), "poll"])
    assert result.exit_code != 0
    line = _one_error_line(result)
    assert line.startswith(f"Error: {workdir / 'gongdan.toml'}: ")
    for word in words:
        assert word in line, f"{why}: {word!r} not in {line!r}"
    assert SECRET not in result.output
    assert sorted(p.relative_to(workdir) for p in workdir.rglob("*")) == before  # no db, no outbox


def test_the_same_invocation_with_a_good_config_polls(workdir):
    """Positive control for the table: the same CLI call does run when the file is right."""
    (workdir / "gongdan.toml").write_text(MINIMAL, "utf-8")
    for sub in ("new", "cur", "tmp"):
        (workdir / "inbox" / sub).mkdir(parents=True)
    (workdir / "inbox" / "new" / "1.eml").write_bytes(
        "From: ops@example.cn\r\nSubject: 充电失败\r\nMessage-ID: <c1@example.cn>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n运营商：星星充电\r\n".encode()
    )
    config = ["--config", str(workdir / "gongdan.toml")]
    assert CliRunner().invoke(cli, [*config, "db", "upgrade"]).exit_code == 0
    result = CliRunner().invoke(cli, [*config, "poll", "--log-level", "WARNING"])
    assert result.exit_code == 0, result.output
    assert (workdir / "gongdan.db").exists()
    assert list((workdir / "inbox" / "new").iterdir()) == []  # the mail was taken
    assert len(list((workdir / "outbox" / "new").iterdir())) == 1  # and answered


def test_a_real_process_prints_one_line_on_stderr_and_never_the_secret(workdir):
    """The same, as cron runs it: a separate process, stderr, the exit code."""
    for text, key in (
        (f'[outgoing]\npassword_env = "{SECRET}"\n', "password_env"),
        ('[desk]\ndaily_reply_limit = "ten"\n', "daily_reply_limit"),
    ):
        (workdir / "gongdan.toml").write_text(text, "utf-8")
        proc = subprocess.run(
            [sys.executable, "-m", "ingest", "poll"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode != 0
        assert proc.stdout == ""
        assert len(proc.stderr.splitlines()) == 1 and key in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and SECRET not in proc.stderr
        assert sorted(p.name for p in workdir.iterdir()) == ["gongdan.toml"]


def test_no_config_file_says_how_to_make_one_and_creates_nothing(workdir):
    for args in (["poll"], ["tickets", "list"], ["digest", "--dry-run"], ["export"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code != 0
        line = _one_error_line(result)
        assert "no config file" in line and "gongdan demo" in line, line
        assert "cp config.example.toml gongdan.toml" in line
    # A file that is named but absent, by option or by environment.
    result = CliRunner().invoke(cli, ["--config", "elsewhere.toml", "poll"])
    assert result.exit_code != 0 and "elsewhere.toml not found" in _one_error_line(result)
    result = CliRunner().invoke(cli, ["poll"], env={"GONGDAN_CONFIG": "gone.toml"})
    assert result.exit_code != 0 and "gone.toml not found" in _one_error_line(result)
    assert list(workdir.iterdir()) == []  # no database, no folders, no locks


def test_parse_decode_and_demo_run_without_a_config(workdir):
    """Positive control: the commands that need no mailbox or database still work out of the box."""
    result = CliRunner().invoke(cli, ["decode", "34"])
    assert result.exit_code == 0 and "紧急停机" in result.output
    (workdir / "a.eml").write_bytes(
        "Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n运营商：星星充电\r\n".encode()
    )
    result = CliRunner().invoke(cli, ["parse", "--json", "a.eml"])
    assert result.exit_code == 0 and '"operator": "星星充电"' in result.output
    assert sorted(p.name for p in workdir.iterdir()) == ["a.eml"]
    result = CliRunner().invoke(
        cli, ["demo", "--inbox", str(ROOT / "demo" / "inbox"), "--dir", "run"]
    )
    assert result.exit_code == 0, result.output
    assert len(list((workdir / "run" / "outbox" / "new").iterdir())) > 0
    assert load_config(str(workdir / "run" / "gongdan.toml")).mailboxes[0].kind == "maildir"


def test_example_config_loads_and_documents_every_key_with_a_comment():
    config = load_config(str(EXAMPLE))
    assert config.mailboxes[0].processed_folder == "Processed"
    assert (
        config.desk.daily_reply_limit == 40 and config.engineers[0].address == "xiaoming@example.cn"
    )
    assert config.outgoing.connections == 4
    documented: dict[str, int] = {}
    table = ""
    lines = EXAMPLE.read_text("utf-8").splitlines()
    for number, line in enumerate(lines):
        header = re.match(r"\[\[?(\w+)\]\]?", line)
        if header:
            table = header.group(1)
        setting = re.match(r"#?\s*(\w+)\s*=", line)
        if setting:
            documented[f"{table}.{setting.group(1)}"] = number
    for key in schema_keys():
        assert key in documented, f"{key} is not in config.example.toml"
        number = documented[key]
        above = number - 1  # or a comment above its group of settings
        while above > 0 and re.match(r"\w+\s*=", lines[above]):
            above -= 1
        commented = "#" in lines[number].split("=", 1)[1] or lines[above].startswith("#")
        assert commented, f"{key} has no comment in config.example.toml"
    # Everything the example writes out is valid TOML the schema accepts (checked above), and
    # every commented-out alternative is a real key too.
    assert set(documented) <= set(schema_keys()), set(documented) - set(schema_keys())


def test_minimal_config_takes_defaults_and_follows_the_file(tmp_path):
    (tmp_path / "g.toml").write_text('[database]\nurl = "sqlite:///g.db"\n' + MINIMAL)
    config = load_config(str(tmp_path / "g.toml"))
    assert config.database_url == f"sqlite:///{tmp_path}/g.db"
    assert config.mailboxes[0].path == str(tmp_path / "inbox")
    assert config.outgoing.path == str(tmp_path / "outbox")
    assert config.desk.daily_reply_limit == 40 and config.desk.operator_domains == []
    assert config.desk.own_addresses == ["support@gongdan.example.cn"]
    assert parse_config("").outgoing.connections == 4


def test_values_keep_their_types():
    config = parse_config(
        '[desk]\nseconds_per_message = 5\noperator_domains = ["op.cn"]\n'
        '[database]\nurl = "postgresql+psycopg://gd@127.0.0.1:5432/gd"\n'
    )
    assert config.desk.seconds_per_message == 5 and config.desk.operator_domains == ["op.cn"]
    assert config.database_url == "postgresql+psycopg://gd@127.0.0.1:5432/gd"


def test_inline_password_is_refused_with_a_clear_error():
    with pytest.raises(ConfigError, match="inline `password` is not allowed"):
        parse_config('[[mailbox]]\nname = "x"\npassword = "secret"\n')


def test_unknown_key_and_bad_toml_name_the_problem():
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config("[desk]\ndaily_limit = 3\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        parse_config("[desk\n")


def test_secrets_from_env_or_file(tmp_path, monkeypatch):
    monkeypatch.setenv("GD_SECRET", "s3")
    assert read_secret("GD_SECRET", "", "x") == "s3"
    (tmp_path / "pw").write_text("from-file\n")
    assert read_secret("", str(tmp_path / "pw"), "x") == "from-file"
    with pytest.raises(ConfigError, match="GD_MISSING is not set"):
        read_secret("GD_MISSING", "", "mailbox support")


def test_a_secret_given_as_variable_name_is_never_echoed():
    with pytest.raises(ConfigError) as caught:
        read_secret(SECRET, "", "[outgoing]")
    assert SECRET not in str(caught.value)
    assert "password_env must name an environment variable" in str(caught.value)


def test_relative_paths_follow_the_config_file(tmp_path):
    (tmp_path / "g.toml").write_text(
        '[database]\nurl = "sqlite:///g.db"\n[[mailbox]]\nkind = "maildir"\npath = "in"\n'
    )
    config = load_config(str(tmp_path / "g.toml"))
    assert config.database_url == f"sqlite:///{tmp_path}/g.db"
    assert config.mailboxes[0].path == str(tmp_path / "in")


def test_every_bad_config_is_valid_toml_except_the_toml_case():
    """The table tests the schema, not the TOML parser (one case apart)."""
    for why, text, _words in BAD_CONFIGS:
        if why != "not TOML":
            tomllib.loads(text)


def test_every_setting_has_a_type_the_schema_checks():
    """config/schema.py checks str, int, float, bool, Literal, lists of those and tables (the
    settings dataclasses, and lists of them): a setting of another type needs a rule there."""
    import dataclasses
    import typing

    from ingest.config.settings import ConfigFile

    def kinds(cls):
        for f in dataclasses.fields(cls):
            hint = typing.get_type_hints(cls)[f.name]
            item = typing.get_args(hint)[0] if typing.get_origin(hint) is list else hint
            if dataclasses.is_dataclass(item):
                yield from kinds(item)
            elif typing.get_origin(item) is typing.Literal:
                yield from {type(choice) for choice in typing.get_args(item)}
            else:
                yield item

    assert set(kinds(ConfigFile)) <= {str, int, float, bool}
