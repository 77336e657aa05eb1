"""Forged bounces (SPEC §6b): a "bounce" matched only by the ticket tag and recipient counts only
from MAILER-DAEMON/postmaster of our sending domain or of the recipient's domain; a bounce's
reason is shown cleaned, at most 200 characters, as the remote system's words."""

from __future__ import annotations

import pytest

from tests.conftest import make_mail
from tests.desk import Desk

OPERATOR = "wang@ops.example.cn"
COMPLETE = (
    "运营商：星星充电\n桩站名称：万达广场站\n订单号：20261124081644614873\n"
    "问题描述：3号桩充不上电，停止原因：34\n运营商初步排查结果：已重启无效\n"
)
PHONE = "13512348382"
SCARE = f"\x1b[31m您的邮箱已被停用，请立即致电客服 {PHONE} 或 0571-66661234 办理\x1b[0m"


def bounce(sender: str, ticket: int, *, reason: str = "mailbox full", ours: str = "") -> bytes:
    """A text report naming the operator, with the ticket's tag (and our Message-ID if `ours`)."""
    copy = f"\r\n--- Original message ---\r\nMessage-ID: {ours}\r\n" if ours else ""
    return (
        f"Return-Path: <>\r\nFrom: {sender}\r\nTo: support@gongdan.example.cn\r\n"
        f"Subject: Undeliverable: Re: 充电桩故障 [工单#{ticket}]\r\n"
        f"Message-ID: <ndr.{ticket}.{sender}>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Delivery has failed to these recipients: {OPERATOR}\r\n{reason}\r\n{copy}"
    ).encode()


@pytest.fixture
def desk(tmp_path):
    desk = Desk(tmp_path / "desk", f"sqlite:///{tmp_path / 'gongdan.db'}")
    desk.poll(make_mail(COMPLETE, sender=OPERATOR, message_id="<op.1@ops.example.cn>"))
    assert [r.state for r in desk.rows()] == ["sent"]
    return desk


def reply_state(desk: Desk) -> str:
    return desk.rows()[0].state


def test_a_strangers_daemon_cannot_mark_the_operators_reply_bounced(desk, tmp_path):
    desk.poll(bounce("MAILER-DAEMON@evil.example", 1, reason=SCARE))
    desk.poll(bounce("postmaster@ops.example.cn.evil.example", 1, reason=SCARE))
    assert reply_state(desk) == "sent"
    # Stored as automatic mail, answered by nobody, marking nothing.
    assert len(desk.replies()) == 1
    flags = [desk.flags_of(f"<ndr.1.{s}>") for s in ("MAILER-DAEMON@evil.example",)]
    assert "bounce" not in flags[0] and "auto_submitted" in flags[0]
    for args in (("outbox", "list", "--bounced"), ("status",), ("tickets", "show", "1")):
        output = desk.gongdan(*args).output
        assert "停用" not in output and PHONE not in output and "bounced in the last" not in output
        assert "封回复被退信" not in output
    out = tmp_path / "digest.html"
    assert desk.gongdan("digest", "--dry-run", "--out", str(out)).exit_code == 0
    assert 'data-table="bounced"' not in out.read_text("utf-8")


@pytest.mark.parametrize(
    "sender",
    [
        "MAILER-DAEMON@gongdan.example.cn",  # our sending domain
        "MAILER-DAEMON@mx1.gongdan.example.cn",  # our own mail host
        "postmaster@ops.example.cn",  # the recipient's domain
    ],
)
def test_a_real_bounce_by_tag_still_marks_the_reply(desk, sender):
    desk.poll(bounce(sender, 1))
    assert reply_state(desk) == "bounced"
    assert "bounce" in desk.flags_of(f"<ndr.1.{sender}>")


def test_a_bounce_carrying_our_message_id_still_works_from_any_mail_system(desk):
    ours = desk.rows()[0].message_id
    desk.poll(bounce("MAILER-DAEMON@relay.other.example", 1, ours=ours))
    assert reply_state(desk) == "bounced"


def test_a_bounce_reason_is_cleaned_cut_and_labelled(desk, tmp_path):
    long_words = SCARE + "，" + "x" * 400
    desk.poll(bounce("postmaster@ops.example.cn", 1, reason=long_words))
    (row,) = desk.rows()
    assert row.state == "bounced"
    stored = row.last_error
    assert "\x1b" not in stored and PHONE not in stored and "66661234" not in stored
    assert "135****8382" in stored and "0571-6666****" in stored
    assert len(stored) <= 200 and "  " not in stored and "\n" not in stored

    listed = desk.gongdan("outbox", "list", "--bounced").output
    assert "对方系统退信原因：Delivery has failed" in listed and "\x1b" not in listed
    assert PHONE not in listed
    shown = desk.gongdan("tickets", "show", "1").output
    assert "对方系统退信原因" in shown and PHONE not in shown
    out = tmp_path / "digest.html"
    assert desk.gongdan("digest", "--dry-run", "--out", str(out)).exit_code == 0
    html = out.read_text("utf-8")
    assert "对方系统退信原因" in html and "135****8382" in html and PHONE not in html
