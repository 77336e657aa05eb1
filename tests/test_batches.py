"""Batches of a poll: one transaction per fetched batch, the next batch read in a second process,
and one email that fails (a bug of ours, a bad byte) never costing the rest of its batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli import cli
from ingest.config import Config
from ingest.read_ahead import ReadAhead
from tests.conftest import make_mail

COMPLETE = ("运营商：星星充电\n订单号：20261124081644614873\n问题描述：扫码后无法启动\n"
            "运营商初步排查结果：已重启，停止原因：34\n手机号：13512348382\n")
INCOMPLETE = "运营商：星星充电\n问题描述：3号桩充不上电\n"


def maildir_desk(tmp_path: Path, database_url: str, count: int, read_ahead: bool = True, extra: str = "") -> Path:
    """A desk on a local Maildir holding `count` tickets from different operators; its config path."""
    inbox = tmp_path / "inbox"
    for sub in ("new", "cur", "tmp"):
        (inbox / sub).mkdir(parents=True)
    for n in range(count):
        raw = make_mail(COMPLETE if n % 3 == 0 else INCOMPLETE, subject=f"故障{n}",
                        message_id=f"<b{n}@xingxing.example.cn>", sender=f"ops{n}@xingxing.example.cn")
        (inbox / "new" / f"{1700000000 + n}.M{n}.test").write_bytes(raw)
    config = tmp_path / "gongdan.toml"
    config.write_text(f"""
[database]
url = "{database_url}"

[[mailbox]]
name = "support"
kind = "maildir"
path = "inbox"

[outgoing]
kind = "maildir"
path = "outbox"
from_address = "support@gongdan.example.cn"

[desk]
read_ahead = {str(read_ahead).lower()}
{extra}
""", "utf-8")
    assert gongdan(config, "db", "upgrade").exit_code == 0
    return config


def gongdan(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def stored(config: Path) -> list[tuple]:
    """What a user sees of every ticket: subject, status, missing fields, and its replies."""
    import json

    rows = []
    for line in gongdan(config, "tickets", "list", "--json").output.splitlines():
        ticket = json.loads(line)
        shown = json.loads(gongdan(config, "tickets", "show", str(ticket["id"]), "--json").output)
        rows.append((ticket["subject"], ticket["status"], tuple(ticket["missing"]),
                     tuple(sorted(o["kind"] for o in shown["outbox"]))))
    return sorted(rows)


def test_read_ahead_stores_exactly_what_reading_in_one_process_stores(tmp_path, database_url):
    count = 130  # three batches: the second process reads two of them
    with_reader = maildir_desk(tmp_path / "a", database_url if "sqlite" in database_url else database_url, count)
    result = gongdan(with_reader, "poll")
    assert result.exit_code == 0, result.output
    assert f"{count} new ticket" in result.output
    assert len(list((tmp_path / "a" / "outbox" / "new").iterdir())) == count
    assert len(list((tmp_path / "a" / "inbox" / "cur").iterdir())) == count
    if "sqlite" not in database_url:
        return  # one PostgreSQL database per test: the comparison below runs on SQLite
    inline = maildir_desk(tmp_path / "b", f"sqlite:///{tmp_path / 'b.db'}", count, read_ahead=False)
    assert gongdan(inline, "poll").exit_code == 0
    assert stored(with_reader) == stored(inline)


def test_one_email_failing_costs_nothing_else_of_its_batch(tmp_path, database_url):
    # A deployment's template with a bug that only one ticket's reply runs into.
    templates = tmp_path / "templates"
    templates.mkdir()
    shipped = (Path(__file__).resolve().parents[1] / "replies" / "templates" / "request_info.txt.j2").read_text("utf-8")
    (templates / "request_info.txt.j2").write_text(
        '{% if "故障7" in subject %}{{ no_such_value }}{% endif %}' + shipped, "utf-8")
    config = maildir_desk(tmp_path, database_url, 60, extra=f'template_dir = "{templates}"')
    result = gongdan(config, "poll")
    assert result.exit_code == 0, result.output
    assert "60 new ticket" in result.output
    rows = stored(config)
    assert len(rows) == 60
    unanswered = [subject for subject, _, _, replies in rows if not replies]
    assert unanswered == ["故障7"]
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 59
    assert len(list((tmp_path / "inbox" / "cur").iterdir())) == 60
    assert not list((tmp_path / "inbox" / "new").iterdir())
    # The failed one is flagged for a person, and a second poll does not answer anything twice.
    assert gongdan(config, "poll").exit_code == 0
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 59


def test_reader_process_killed_falls_back_to_reading_here():
    raws = [make_mail(INCOMPLETE, subject=f"故障{n}", message_id=f"<r{n}@x.example.cn>") for n in range(5)]
    with ReadAhead(Config(), parallel=True) as reader:
        assert reader.submit(raws[:2])()[0].fields["operator"] == "星星充电"
        for pid in list(reader._pool._processes):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        readings = reader.submit(raws)()
    assert [r.mail.subject for r in readings] == [f"故障{n}" for n in range(5)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the reader's parent-death signal is Linux's")
def test_poll_killed_takes_its_reader_process_along(tmp_path):
    config = maildir_desk(tmp_path, f"sqlite:///{tmp_path / 'gongdan.db'}", 400)
    proc = subprocess.Popen([sys.executable, "-m", "ingest", "--config", str(config), "poll"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children: list[int] = []
    deadline = time.monotonic() + 30
    while not children and time.monotonic() < deadline and proc.poll() is None:
        children = _children_of(proc.pid)
        time.sleep(0.02)
    assert children, "the poll never started a reader process"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in children)
    # Nothing holds the poll's lock any more: the next poll takes the mailbox and finishes it.
    result = gongdan(config, "poll")
    assert result.exit_code == 0 and "another gongdan poll" not in result.output, result.output
    assert len(list((tmp_path / "inbox" / "cur").iterdir())) == 400
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 400


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
