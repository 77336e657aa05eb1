"""`gongdan export` and `status`, as the admin's backup and monitoring use them (SPEC §11)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta

from click.testing import CliRunner
from imapclient import IMAPClient
from sqlalchemy import update

from ingest.cli.main import cli
from ingest.config import load_config
from ingest.store import db
from ingest.store.models import MailboxState, Outbox
from tests.clock import utcnow
from tests.conftest import make_mail
from tests.desk import COMPLETE, INCOMPLETE

ENGINEER = "xiaoming@gongdan.example.cn"


def fill(desk) -> list[str]:
    """A small day: complete and incomplete tickets, a follow-up, an engineer's status, junk."""
    desk.deliver(make_mail(COMPLETE, subject="扫码无法启动", message_id="<x1@xingxing.example.cn>"))
    desk.deliver(
        make_mail(
            INCOMPLETE,
            subject="充电失败",
            message_id="<x2@lvneng.example.cn>",
            sender="a@lvneng.example.cn",
        )
    )
    desk.deliver(b"\x00\x01\x02 not an email at all")
    desk.poll()
    request = next(r for r in desk.replies() if r["In-Reply-To"] == "<x2@lvneng.example.cn>")
    desk.deliver(
        make_mail(
            "订单号：20261124081644614873\n运营商初步排查结果：重启无效",
            subject=request["Subject"],
            message_id="<x3@lvneng.example.cn>",
            sender="a@lvneng.example.cn",
            in_reply_to=request["Message-ID"],
        )
    )
    desk.deliver(
        make_mail(
            "状态: ☑ 暂搁置 | 处理中\n售后(跟单)工程师: 小明",
            subject=request["Subject"],
            sender=ENGINEER,
            message_id="<x4@gongdan.example.cn>",
            in_reply_to="<x3@lvneng.example.cn>",
        )
    )
    desk.poll()
    return [
        "<x1@xingxing.example.cn>",
        "<x2@lvneng.example.cn>",
        "<x3@lvneng.example.cn>",
        "<x4@gongdan.example.cn>",
    ]


def exported(desk, *args) -> list[dict]:
    result = desk.gongdan("export", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_export_matches_the_mailbox(desk):
    fill(desk)
    items = exported(desk)
    tickets = [i for i in items if i["type"] == "ticket"]
    unreadable = [i for i in items if i["type"] == "unreadable"]
    assert [t["id"] for t in tickets] == sorted(t["id"] for t in tickets)
    inbound = [m["message_id"] for t in tickets for m in t["messages"] if m["direction"] == "in"]
    with IMAPClient("127.0.0.1", desk.dovecot.port, ssl=False) as imap:
        imap.login(*desk.user)
        imap.select_folder("INBOX")
        in_mailbox = imap.search("ALL")
    # Every message of the mailbox is in the export exactly once: tickets' messages plus
    # unreadable ones.
    assert len(inbound) + len(unreadable) == len(in_mailbox) == 5
    assert len(set(inbound)) == len(inbound)
    assert unreadable == [
        {
            "type": "unreadable",
            "mailbox": "support",
            "uid": 3,
            "message_id": "",
            "size": 23,
            "error": "not an email: no mail headers and binary content",
        }
    ]
    second = next(t for t in tickets if t["operator_address"] == "a@lvneng.example.cn")
    assert second["status"] == "on_hold" and second["engineer"] == "小明" and second["complete"]
    assert {e["kind"] for e in second["events"]} >= {
        "field_set",
        "completed",
        "status_changed",
        "assigned",
    }
    assert [o["kind"] for o in second["outbox"]] == ["request_info", "ack"]
    assert all(o["state"] == "sent" and o["attempts"] == 1 for o in second["outbox"])
    assert set(second) == {
        "type",
        "id",
        "template",
        "status",
        "engineer",
        "operator_address",
        "fields",
        "missing",
        "complete",
        "stop_codes",
        "created_at",
        "updated_at",
        "messages",
        "events",
        "outbox",
        "waiting_on",  # SPEC §13
        "related",
    }
    assert exported(desk, "--ticket", str(second["id"])) == [second]


def test_export_raw_then_import_rebuilds_the_same_tickets(desk, tmp_path):
    fill(desk)
    before = [i for i in exported(desk, "--raw", str(tmp_path / "backup")) if i["type"] == "ticket"]
    assert (
        (tmp_path / "backup" / "unreadable" / "1.eml").read_bytes().endswith(b"not an email at all")
    )
    restored = tmp_path / "restored.toml"
    restored.write_text(
        desk.config.read_text("utf-8").replace(
            load_config(str(desk.config)).database_url, f"sqlite:///{tmp_path}/restored.db"
        ),
        "utf-8",
    )

    def gongdan(*args):
        return CliRunner().invoke(cli, ["--config", str(restored), *args], catch_exceptions=False)

    assert gongdan("db", "upgrade").exit_code == 0
    assert gongdan("import", str(tmp_path / "backup")).exit_code == 0
    after = [
        json.loads(line)
        for line in gongdan("export").output.splitlines()
        if '"type": "ticket"' in line
    ]
    key = lambda t: (t["operator_address"], t["fields"].get("order_no") or "")  # noqa: E731
    assert [
        (t["operator_address"], t["fields"], t["status"], t["engineer"], t["complete"])
        for t in sorted(before, key=key)
    ] == [
        (t["operator_address"], t["fields"], t["status"], t["engineer"], t["complete"])
        for t in sorted(after, key=key)
    ]


def test_status_exit_codes(desk, tmp_path):
    never = desk.gongdan("status")
    assert never.exit_code == 1 and "邮箱 support：3 个周期（3分钟）未成功收取" in never.output
    assert "上次成功 从未" in never.output
    desk.deliver(make_mail(COMPLETE, message_id="<h1@xingxing.example.cn>"))
    desk.poll()
    healthy = desk.gongdan("status", "--json")
    report = json.loads(healthy.output)
    assert (
        healthy.exit_code == 0
        and report["healthy"]
        and report["database"]["revision"] == db.head_revision()
    )
    assert report["mailboxes"][0]["last_uid"] == 1 and report["mailboxes"][0]["uidvalidity"]
    last_drain = report["outbox"].pop("last_drain")
    assert report["outbox"] == {
        "queued": 0,
        "failed": 0,
        "sent": 1,
        "oldest_failure": None,
        "bounced_7d": 0,
        "held": 0,
        "waiting": 0,
        "oldest_waiting": None,
    }
    assert (
        last_drain["ok"]
        and last_drain["error"] is None
        and last_drain["at"] == last_drain["last_success"]
    )

    # The SMTP server has been down for over an hour: degraded. The reply is not charged an
    # attempt (SPEC §9a): it waits queued, past its first retry (it was "failed" and
    # "failing for over an hour" before §9a).
    desk.smtp.stop()
    desk.deliver(
        make_mail(COMPLETE, message_id="<h2@xingxing.example.cn>", sender="b@xingxing.example.cn")
    )
    assert (
        desk.gongdan("poll").exit_code == 1
    )  # an outbox that cannot send fails the cycle (SPEC §9)
    engine = db.open_database(load_config(str(desk.config)).database_url)
    with engine.begin() as conn:
        conn.execute(
            update(Outbox.__table__)
            .where(Outbox.state == "queued")
            .values(
                created_at=utcnow() - timedelta(hours=2),
                next_attempt_at=utcnow() - timedelta(hours=2),
            )
        )
    degraded = desk.gongdan("status")
    assert degraded.exit_code == 1 and "过了首次重试时间仍未发出" in degraded.output
    assert "cannot reach SMTP server" in degraded.output
    outbox = json.loads(desk.gongdan("status", "--json").stdout)["outbox"]
    assert (outbox["waiting"], outbox["held"]) == (1, 0)  # waiting for the server, not withheld

    # No successful cycle for three intervals: degraded too (the server is back and sent the rest).
    desk.smtp.start()
    with engine.begin() as conn:
        conn.execute(update(Outbox.__table__).values(state="sent"))
    desk.poll()
    with engine.begin() as conn:
        conn.execute(
            update(MailboxState.__table__)
            .where(MailboxState.name == "support")
            .values(last_success_at=utcnow() - timedelta(minutes=5))
        )
    engine.dispose()
    assert desk.gongdan("status", "--interval", "60").exit_code == 1
    assert desk.gongdan("status", "--interval", "600").exit_code == 0

    # No database at all: broken, exit 2, one line.
    broken_config = tmp_path / "broken.toml"
    broken_config.write_text(f'[database]\nurl = "sqlite:///{tmp_path}/nothing-here.db"\n', "utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "ingest", "--config", str(broken_config), "status"],
        capture_output=True,
    )
    assert proc.returncode == 2 and len(proc.stderr.decode().strip().splitlines()) == 1
    assert (
        subprocess.run(
            [sys.executable, "-m", "ingest", "--config", str(tmp_path / "none.toml"), "status"],
            capture_output=True,
        ).returncode
        == 2
    )
