"""The `gongdan` command line as an admin uses it: output and exit codes."""

import json
import subprocess
import sys

import click
from click.testing import CliRunner

from ingest.cli.main import cli

TICKET = (
    "From: 运维 <ops@example.cn>\nTo: support@example.cn\nSubject: =?UTF-8?B?5YWF55S15aSx6LSl?=\n"
    "Message-ID: <t1@example.cn>\nContent-Type: text/plain; charset=utf-8\n\n"
    "运营商：星星充电\n手机号：13512348382\n订单号：20190830211644614873\n问题描述：充电失败\n"
    "运营商初步排查结果：已重启\n停止原因：34\n"
).encode()


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_decode_prints_meanings():
    result = run("decode", "34", "2", "99", "--vendor", "sinexcel")
    assert result.exit_code == 0
    assert result.output.splitlines() == ["  34  紧急停机", "   2  与车辆通信超时", "  99  其他"]


def test_decode_unknown_code_and_json():
    result = run("decode", "77", "--json")
    assert json.loads(result.output) == {
        "vendor": "sinexcel",
        "code": 77,
        "meaning": "未知代号",
        "known": False,
    }


def test_decode_list_shows_the_table_with_notes():
    lines = run("decode", "--list").output.splitlines()
    assert len(lines) == 65
    assert "  38  充电电量满足  (BO发现?)" in lines


def test_decode_unknown_vendor_is_one_clear_line():
    result = CliRunner().invoke(cli, ["decode", "34", "--vendor", "nope"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: unknown vendor 'nope'; known: sinexcel"


def test_parse_json_one_line_per_file_and_errors_do_not_stop_the_rest(tmp_path):
    good = tmp_path / "good.eml"
    good.write_bytes(TICKET)
    empty = tmp_path / "empty.eml"
    empty.write_bytes(b"")
    png = tmp_path / "pic.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    proc = CliRunner().invoke(
        cli, ["parse", "--json", str(empty), str(good), str(png), str(tmp_path / "missing.eml")]
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.exit_code == 1
    assert [line["file"] for line in lines] == [
        str(empty),
        str(good),
        str(png),
        str(tmp_path / "missing.eml"),
    ]
    assert all(set(lines[i]) == {"file", "error"} for i in (0, 2, 3))
    reading = lines[1]
    assert (
        reading["subject"] == "充电失败"
        and reading["complete"] is True
        and reading["action"] == "ack"
    )
    assert reading["fields"]["phone"] == "13512348382"  # parse is the admin's tool: as written
    assert reading["order_time"] == "2019-08-30T21:16:44"
    assert reading["stop_codes"] == [
        {"vendor": "sinexcel", "code": 34, "meaning": "紧急停机", "known": True}
    ]
    assert "could not be read" in proc.stderr


def test_parse_summary_masks_the_phone(tmp_path):
    good = tmp_path / "good.eml"
    good.write_bytes(TICKET)
    result = run("parse", str(good))
    assert result.exit_code == 0
    assert "135****8382" in result.output and "13512348382" not in result.output
    assert "紧急停机" in result.output


# Start-up: cron runs gongdan every minute; the commands that need no database must not load it.
HEAVY = ("sqlalchemy", "sqlmodel", "alembic", "pydantic", "rich")


def test_help_parse_and_decode_load_no_database_or_rich(tmp_path):
    good = tmp_path / "good.eml"
    good.write_bytes(TICKET)
    # A fresh interpreter: this one has loaded everything by now.
    code = f"""
import sys
from click.testing import CliRunner
from ingest.cli.main import cli
for args in (["--help"], ["parse", "--json", {str(good)!r}], ["parse", {str(good)!r}],
             ["decode", "34"], ["decode", "--list"]):
    result = CliRunner().invoke(cli, args, env={{"GONGDAN_CONFIG": None}})
    assert result.exit_code == 0, (args, result.output)
print(" ".join(sorted({{m.split(".")[0] for m in sys.modules}} & set({HEAVY!r}))))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == []


def test_the_expected_revision_is_alembics_head():
    """Commands check the database against db.HEAD_REVISION without loading Alembic."""
    from ingest.store import db

    assert db.HEAD_REVISION == db.head_revision(), "a new migration: set db.HEAD_REVISION"


def test_status_choices_are_the_statuses():
    from ingest.reading.display_words import STATUSES

    tickets = cli.get_command(click.Context(cli), "tickets")
    status = next(p for p in tickets.commands["list"].params if p.name == "status")
    assert status.type.choices == STATUSES


# What a poll needs only when there is mail: the reader (its label patterns too), the store step,
# the reply templates; and the ORM (the models, SQLModel, SQLAlchemy's ORM) with pydantic under it
# (issue 22).
PATTERNS = "ingest.reading.field_catalog"  # the labels as patterns: reading mail alone needs them
READING = (
    "ingest.reading.ticket",
    PATTERNS,
    "ingest.sources.read_ahead",
    "ingest.store.tickets",
    "jinja2",
)
ORM = ("ingest.store.models", "sqlmodel", "sqlalchemy.orm", "pydantic")


def _poll_loads(
    tmp_path,
    mail: bytes | None,
    command: str = "poll",
    now: str = "2026-11-30T09:00+08:00",
    more_config: str = "",
) -> tuple[str, set[str]]:
    """`gongdan poll` (or `command`, its words split on spaces) at `now` in a fresh interpreter
    on a Maildir desk (with `mail` delivered, if any; `more_config` added to its config): its last
    line, and which of READING and ORM it imported."""
    for sub in ("new", "cur", "tmp"):
        (tmp_path / "inbox" / sub).mkdir(parents=True, exist_ok=True)
    if mail:
        (tmp_path / "inbox" / "new" / "1.M1.test").write_bytes(mail)
    (tmp_path / "gongdan.toml").write_text(
        '[database]\nurl = "sqlite:///gongdan.db"\n\n[[mailbox]]\nkind = "maildir"\n'
        'path = "inbox"\n\n[outgoing]\nkind = "maildir"\npath = "outbox"\n'
        'from_address = "support@gongdan.example.cn"\n' + more_config,
        "utf-8",
    )
    code = f"""
import sys
from ingest.cli.main import main
sys.argv = ["gongdan", "--config", "gongdan.toml", *{command.split()!r}, "--now", {now!r}]
try:
    main()
finally:
    print(" ".join(m for m in {READING + ORM!r} if m in sys.modules))
"""
    upgrade = [sys.executable, "-m", "ingest", "--config", "gongdan.toml", "db", "upgrade"]
    subprocess.run(upgrade, cwd=tmp_path, check=True, capture_output=True, timeout=60)
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    *said, loaded = proc.stdout.splitlines()
    return said[-1], set(loaded.split())


def test_a_poll_with_no_mail_loads_no_reader_no_templates_and_no_orm(tmp_path):
    said, loaded = _poll_loads(tmp_path / "empty", None)
    assert said == "mailbox support: no new mail; outbox: 0 sent, 0 failed"
    assert loaded == set()
    # Positive control: with mail, the same poll reads it, stores a ticket and answers it.
    said, loaded = _poll_loads(tmp_path / "mail", TICKET)
    assert said == "mailbox support: 1 new ticket, 1 replies; outbox: 1 sent, 0 failed"
    assert loaded == set(READING + ORM)


def test_a_reminder_due_loads_the_templates_but_no_orm(tmp_path):
    """remind follows up on SQLAlchemy Core: a reminder due loads the reply templates, not the
    models (issue 22)."""
    head = TICKET.split(b"\n\n")[0]
    said, _ = _poll_loads(tmp_path, head + "\n\n运营商：星星充电\n问题描述：充电失败\n".encode())
    assert said == "mailbox support: 1 new ticket, 1 replies; outbox: 1 sent, 0 failed"
    said, loaded = _poll_loads(tmp_path, None, "remind", "2026-12-03T09:00+08:00")
    assert said == "outbox: 1 sent, 0 failed"
    assert "jinja2" in loaded and not loaded & {*ORM, PATTERNS}


def test_the_digest_and_stats_load_no_orm(tmp_path):
    """The digest, stats and the monthly review read on SQLAlchemy Core: neither SQLModel,
    pydantic, SQLAlchemy's ORM nor the models are loaded for them (issue 22)."""
    recipients = '\n[digest]\nrecipients = ["aftersales@gongdan.example.cn"]\n'
    # Positive control: the poll that stores the ticket loads the ORM.
    said, loaded = _poll_loads(tmp_path, TICKET, more_config=recipients)
    assert said == "mailbox support: 1 new ticket, 1 replies; outbox: 1 sent, 0 failed"
    assert set(ORM) <= loaded
    later = "2026-11-30T10:00+08:00"
    said, loaded = _poll_loads(tmp_path, None, "digest", later, recipients)
    assert said == "sent to aftersales@gongdan.example.cn"
    assert "jinja2" in loaded and not loaded & {*ORM, PATTERNS}
    for command in ("stats --since 2026-11-01", "stats --month 2026-11 --by engineer"):
        said, loaded = _poll_loads(tmp_path, None, command, later, recipients)
        assert not loaded & set(ORM), command
