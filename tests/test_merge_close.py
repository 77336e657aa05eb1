"""Merge and close (SPEC §13): by command and by an engineer's mail; automatic mail that joins no
thread is stored closed."""

from __future__ import annotations

import json

import pytest

from ingest.reading.fields import merge_target
from tests.conftest import make_mail
from tests.desk import COMPLETE, ENGINEER, ENGINEER_TOML, INCOMPLETE, Desk

NOW = "2026-12-07T09:00+08:00"
LATER = "2026-12-07T10:00+08:00"
WEEK_LATER = "2026-12-15T09:00+08:00"
DATE = "Mon, 07 Dec 2026 08:55:00 +0800"
OPS, OPS2 = "ops@xingxing.example.cn", "li@xingxing.example.cn"
MX = "mx.gongdan.example.cn"
VERIFIED = {"Authentication-Results": f"{MX}; dkim=pass header.d=gongdan.example.cn"}
CODES = "运营商：星星充电\n订单号：20261124081644614873\n问题描述：桩停止代号：{}\n"


def desk_on(tmp_path, url: str | None = None, verify: bool = False) -> Desk:
    trusted = f'\n[desk]\ntrusted_authserv_id = "{MX}"\n' if verify else ""
    return Desk(
        tmp_path,
        url or f"sqlite:///{tmp_path}/gongdan.db",
        extra=ENGINEER_TOML + trusted,
    )


def poll(desk: Desk, *raws: bytes, now: str = NOW) -> None:
    for raw in raws:
        desk.deliver(raw)
    result = desk.gongdan("poll", "--now", now)
    assert result.exit_code == 0, result.output


def opening(body: str, n: int, sender: str = OPS, subject: str = "充电桩故障") -> bytes:
    return make_mail(
        body, subject=subject, sender=sender, message_id=f"<op{n}@xingxing.example.cn>", date=DATE
    )


def engineer_mail(body: str, n: int, on: int, headers=None, sender: str = ENGINEER) -> bytes:
    """A reply on the thread opened by opening(..., on)."""
    return make_mail(
        body,
        subject=f"Re: 充电桩故障 [工单#{on}]",
        sender=sender,
        message_id=f"<e{n}@gongdan.example.cn>",
        in_reply_to=f"<op{on}@xingxing.example.cn>",
        headers=headers,
        date=DATE,
    )


def ids(desk: Desk, *args: str) -> list[int]:
    """The ticket numbers `tickets list ARGS` shows."""
    result = desk.gongdan("tickets", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line)["id"] for line in result.output.splitlines()]


def digest(desk: Desk) -> tuple[str, str]:
    """The digest as of LATER: the command's line, and the HTML."""
    out = desk.root / "digest.html"
    result = desk.gongdan("digest", "--dry-run", "--now", LATER, "--out", str(out))
    assert result.exit_code == 0, result.output
    return result.output, out.read_text("utf-8")


def two_tickets(desk: Desk) -> None:
    """#1 from OPS (stop code 34), #2 from OPS2 on the same pile (stop codes 34 and 1)."""
    poll(desk, opening(CODES.format("34"), 1), opening(CODES.format("34，1"), 2, sender=OPS2))
    assert ids(desk) == [1, 2]


def test_merge_by_command_moves_everything_and_keeps_the_number_findable(tmp_path, database_url):
    desk = desk_on(tmp_path, database_url)
    two_tickets(desk)
    before = {t["id"]: t for t in desk.exported()}
    replies_before = len(desk.rows())

    result = desk.gongdan("tickets", "merge", "2", "--into", "1", "--now", LATER)
    assert result.exit_code == 0, result.output

    target, merged = desk.show(1), desk.show(2)
    assert [m["message_id"] for m in target["messages"] if m["direction"] == "in"] == [
        "<op1@xingxing.example.cn>",
        "<op2@xingxing.example.cn>",
    ]
    # Each stop code once; both acks now on #1; #2's history is there too.
    assert sorted(c["code"] for c in target["stop_codes"]) == [1, 34]
    assert len(target["outbox"]) == len(before[1]["outbox"]) + len(before[2]["outbox"])
    assert len(desk.rows()) == replies_before  # merging sends nothing
    kinds = [(e["kind"], e["detail"]) for e in target["events"]]
    assert ("merged", {"from": 2}) in kinds
    assert (merged["status"], merged["closed_reason"], merged["merged_into"]) == (
        "closed",
        "合并到 #1",
        1,
    )
    assert merged["messages"] == [] and merged["outbox"] == []
    assert [e["kind"] for e in merged["events"]] == ["merged"]
    shown = desk.gongdan("tickets", "show", "2").output
    assert "已关闭" in shown and "已合并到 工单#1" in shown
    assert ids(desk) == [1] and ids(desk, "--all") == [1, 2]

    # #2's operator writes on [工单#2] later: it joins #1 (they are on its thread now).
    follow = make_mail(
        "请问进度如何？",
        subject="Re: 充电桩故障 [工单#2]",
        sender=OPS2,
        message_id="<later@xingxing.example.cn>",
        date=DATE,
    )
    poll(desk, follow, now=LATER)
    assert ids(desk, "--all") == [1, 2]
    assert "<later@xingxing.example.cn>" in [m["message_id"] for m in desk.show(1)["messages"]]
    assert desk.flags_of("<later@xingxing.example.cn>") == []


def test_merge_and_close_refuse_in_one_line_and_change_nothing(tmp_path):
    desk = desk_on(tmp_path)
    two_tickets(desk)
    poll(desk, opening(COMPLETE, 3, sender="ops@other.example.cn"))
    assert desk.gongdan("tickets", "close", "3", "--reason", "重复").exit_code == 0
    before = desk.exported()
    for args, says in [
        (("merge", "2", "--into", "2"), "ticket #2 cannot be merged into itself"),
        (("merge", "9", "--into", "1"), "no ticket #9"),
        (("merge", "2", "--into", "9"), "no ticket #9"),
        (("merge", "2", "--into", "3"), "ticket #3 is closed; merge into an open ticket"),
        (("close", "9", "--reason", "x"), "no ticket #9"),
        (("close", "3", "--reason", "x"), "ticket #3 is already closed"),
        (("close", "1", "--reason", "  "), "--reason must say why the ticket is closed"),
    ]:
        result = desk.gongdan("tickets", *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.output.strip().splitlines() == [f"Error: {says}"]
    assert desk.exported() == before
    # Positive control: the same merge into an open ticket works, once.
    assert desk.gongdan("tickets", "merge", "2", "--into", "1").exit_code == 0
    again = desk.gongdan("tickets", "merge", "2", "--into", "1")
    assert again.exit_code == 1 and "already merged into #1" in again.output


def test_close_by_command_sends_nothing_and_is_never_reminded(tmp_path):
    desk = desk_on(tmp_path)
    poll(desk, opening(INCOMPLETE, 1), opening(INCOMPLETE, 2, sender=OPS2))
    assert [r.kind for r in desk.rows()] == ["request_info", "request_info"]
    result = desk.gongdan("tickets", "close", "1", "--reason", "运营商已自行解决", "--now", LATER)
    assert result.exit_code == 0, result.output
    closed = desk.show(1)
    assert (closed["status"], closed["closed_reason"]) == ("closed", "运营商已自行解决")
    assert closed["events"][-1]["kind"] == "closed"
    assert closed["events"][-1]["detail"]["reason"] == "运营商已自行解决"
    assert len(desk.rows()) == 2  # no reply of any kind
    assert ids(desk) == [2] and ids(desk, "--status", "closed") == [1]
    assert "关闭原因: 运营商已自行解决" in desk.gongdan("tickets", "show", "1").output

    # A week on: #2 (open, still waiting) is reminded or put on hold; closed #1 never is.
    assert desk.gongdan("remind", "--now", WEEK_LATER).exit_code == 0
    later = [(r.ticket_id, r.kind) for r in desk.rows()[2:]]
    assert later and all(ticket == 2 for ticket, _ in later)
    assert desk.show(1)["status"] == "closed"


def test_closed_tickets_leave_the_digest(tmp_path):
    desk = desk_on(tmp_path)
    poll(desk, opening(INCOMPLETE, 1, subject="一号桩故障"), opening(COMPLETE, 2, sender=OPS2))
    assert desk.gongdan("tickets", "close", "1", "--reason", "重复工单").exit_code == 0
    line, html = digest(desk)
    assert "0 waiting for the operator, 1 in progress" in line
    assert "一号桩故障" not in html and ">#1</a>" not in html
    assert ">#2</a>" in html  # positive control: the open ticket is listed


def test_engineer_mail_merges_and_closes(tmp_path):
    desk = desk_on(tmp_path, verify=True)
    two_tickets(desk)
    poll(desk, opening(COMPLETE, 3, sender="ops@other.example.cn"))
    replies = len(desk.rows())
    merge_line = "同一根桩的问题。\n合并到：工单#1\n"
    poll(desk, engineer_mail(merge_line, 1, on=2, headers=VERIFIED), now=LATER)
    merged = desk.show(2)
    assert (merged["status"], merged["merged_into"]) == ("closed", 1)
    assert merged["events"][-1]["by"] == ENGINEER
    # The engineer's mail is kept where the thread went.
    assert "<e1@gongdan.example.cn>" in [m["message_id"] for m in desk.show(1)["messages"]]

    close = "无需处理。\n状态(☑表示选定 ): 已解决 | 处理中 | 暂搁置 | ☑ 已关闭\n"
    poll(desk, engineer_mail(close, 2, on=3, headers=VERIFIED), now=LATER)
    closed = desk.show(3)
    assert (closed["status"], closed["closed_reason"]) == ("closed", "工程师关闭")
    assert closed["events"][-1]["kind"] == "closed"
    assert len(desk.rows()) == replies  # neither mail sent anything
    assert ids(desk) == [1]


@pytest.mark.parametrize("who", ["forged engineer", "operator"])
def test_a_merge_line_from_anyone_else_changes_nothing(tmp_path, who):
    desk = desk_on(tmp_path, verify=True)
    two_tickets(desk)
    before = desk.show(2)
    line = "合并到: #1\n状态(☑表示选定 ): 已解决 | 处理中 | 暂搁置 | ☑ 已关闭\n"
    if who == "forged engineer":  # the engineer's address, without passing authentication
        attack = engineer_mail(line, 1, on=2)
    else:  # the ticket's own operator, on their thread
        attack = engineer_mail(line, 1, on=2, sender=OPS2)
    poll(desk, attack, now=LATER)
    ticket = desk.show(2)
    assert (ticket["status"], ticket["merged_into"], ticket["closed_reason"]) == (
        before["status"],
        None,
        None,
    )
    assert ticket["events"] == before["events"]
    assert ids(desk) == [1, 2]
    # Positive control: the verified engineer's same lines merge it.
    poll(desk, engineer_mail(line, 2, on=2, headers=VERIFIED), now=LATER)
    assert desk.show(2)["merged_into"] == 1 and ids(desk) == [1]


def test_automatic_mail_that_joins_no_thread_is_stored_closed(tmp_path):
    desk = desk_on(tmp_path)
    out_of_office = make_mail(
        "您好，我正在休假，12月10日返回。",
        subject="自动回复: 充电桩故障",
        sender="boss@xingxing.example.cn",
        message_id="<ooo@xingxing.example.cn>",
        headers={"Auto-Submitted": "auto-replied"},
        date=DATE,
    )
    poll(desk, out_of_office, opening(INCOMPLETE, 2))
    stored = desk.show(1)
    assert (stored["status"], stored["closed_reason"]) == ("closed", "自动邮件")
    # Its history says so: closed by nobody, from the status it would have had.
    assert [(e["kind"], e["by"], e["detail"]) for e in stored["events"]] == [
        ("closed", "", {"old": "waiting_info", "reason": "自动邮件"})
    ]
    assert desk.gongdan("tickets", "show", "1", "--json").exit_code == 0
    assert [r.ticket_id for r in desk.rows()] == [2]  # the person got a reply; the robot none
    # Positive control: the person's mail opens a ticket that waits, and is listed.
    assert ids(desk) == [2] and ids(desk, "--all") == [1, 2]
    line, html = digest(desk)
    assert "1 new, 1 waiting for the operator" in line
    assert ">#2</a>" in html and ">#1</a>" not in html


@pytest.mark.parametrize(
    "text,number",
    [
        ("合并到：工单#12", 12),
        ("合并到: #12", 12),
        ("  合并到 ： 工单 ＃１２ ", 12),
        ("合併到：工單#7", 7),
        ("请看 合并到：工单#12", None),  # not a line of its own
        ("合并到：工单#", None),
        ("合并到工单#12", None),  # no colon
    ],
)
def test_merge_line(text, number):
    assert merge_target(f"你好\n{text}\n谢谢") == number
