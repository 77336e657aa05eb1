"""Values an operator types into the template of our own request or reminder, quoted below the
reply (SPEC §3b), in the ways mail clients quote: `>` lines, Outlook's and QQ Mail's header
blocks, iOS Mail's 在…写道."""

from __future__ import annotations

import email.utils
from datetime import timedelta
from pathlib import Path

import pytest

from ingest.reading.fields import extract_fields
from ingest.reading.quoted_template import PREFILLED, typed_values
from ingest.reading.ticket import read_mail
from replies.render import render_reminder, render_request_info
from tests.conftest import make_mail
from tests.desk import STANDARD

TICKET = {
    "id": 7,
    "subject": "会员卡无法充电",
    "template": "simple",
    "fields": {"operator": "万科新能源"},
    "missing": ["description", "operator_findings"],
    "invalid": {},
}
TYPED = {
    "运营商": "万科新能源",
    "问题描述": "会员卡刷卡后无法启动充电",
    "运营商初步排查结果": "已重启",
}
EXPECTED = {
    "operator": "万科新能源",
    "description": "会员卡刷卡后无法启动充电",
    "operator_findings": "已重启",
}


def filled(text: str, typed: dict[str, str]) -> str:
    """`text` with the operator's values typed after the template's labels, in place."""
    lines = []
    for line in text.splitlines():
        label = line.rstrip().rstrip(":：")
        lines.append(f"{label}: {typed[label]}" if label in typed else line)
    return "\n".join(lines)


def gt_quote(text: str) -> str:
    return "\n".join(f">{line}" for line in text.split("\n"))


def outlook_quote(text: str) -> str:
    return (
        "-----原始邮件-----\n发件人: 售后支持 <support@gongdan.example.cn>\n"
        "发送时间: 2026年11月24日 9:00\n收件人: ops@wanke.example.cn\n"
        f"主题: Re: 会员卡无法充电 [工单#7]\n\n{text}"
    )


def qq_quote(text: str) -> str:
    return (
        "------------------ 原始邮件 ------------------\n"
        '发件人: "售后支持"<support@gongdan.example.cn>;\n'
        "发送时间: 2026年11月24日(星期二) 上午9:00\n"
        '收件人: "ops"<ops@wanke.example.cn>;\n主题: Re: 会员卡无法充电 [工单#7]\n\n' + text
    )


def ios_quote(text: str) -> str:
    return "在 2026年11月24日，09:00，售后支持 <support@gongdan.example.cn> 写道：\n\n" + "\n".join(
        f"> {line}" if line else ">" for line in text.split("\n")
    )


def reply(body: str, subject: str = "Re: 会员卡无法充电 [工单#7]") -> bytes:
    return make_mail(
        body,
        subject=subject,
        sender="ops@wanke.example.cn",
        message_id="<reply.7@wanke.example.cn>",
        in_reply_to="<gongdan.7@gongdan.example.cn>",
        references="<gongdan.7@gongdan.example.cn>",
    )


def fields_of(raw: bytes) -> dict:
    result = read_mail(raw)
    assert result.reading is not None, result.error
    return result.reading.fields


@pytest.mark.parametrize("quote", [gt_quote, outlook_quote, qq_quote, ios_quote])
def test_values_typed_into_our_quoted_request_are_read(quote):
    body = "已在下面模板里补充\n\n" + quote(filled(render_request_info(TICKET), TYPED))
    assert fields_of(reply(body)) == EXPECTED


def test_values_typed_into_a_quoted_reminder_are_read():
    reminder = render_reminder(TICKET, on_hold=False, waited=timedelta(days=2))
    body = "补充如下\n\n" + gt_quote(filled(reminder, TYPED))
    assert fields_of(reply(body)) == EXPECTED


def test_the_new_text_wins_over_the_quoted_template():
    body = "问题描述：扫码也不行\n\n" + gt_quote(filled(render_request_info(TICKET), TYPED))
    assert fields_of(reply(body)) == {**EXPECTED, "description": "扫码也不行"}


def test_a_quoted_template_left_blank_gives_nothing():
    # Our blank template marks 处理中 itself: that mark is not the operator's status.
    detailed = {**TICKET, "template": "detailed", "missing": ["order_no"]}
    body = "请查收\n\n" + gt_quote(render_request_info(detailed))
    assert "☑ 处理中" in body
    assert fields_of(reply(body)) == {}


def test_labels_quoted_from_a_mail_that_is_not_ours_stay_unread():
    # A reply quoting someone else's filled template (not our request): quoted history of a
    # reply is not read (SPEC §3), whatever it holds.
    other = "运营商: 别家充电\n问题描述: 别的工单\n运营商初步排查结果: 无"
    assert fields_of(reply("已在下面模板里补充\n\n" + gt_quote(other))) == {}
    # The same values in our request are read (the positive control).
    ours = STANDARD + "\n\n" + other
    assert fields_of(reply("已在下面模板里补充\n\n" + gt_quote(ours))) == {
        "operator": "别家充电",
        "description": "别的工单",
        "operator_findings": "无",
    }


def test_the_problem_list_of_our_request_gives_no_values():
    ticket = {**TICKET, "fields": {"phone": "1380013"}, "invalid": {"phone": "7 digits"}}
    text = render_request_info(ticket)
    assert "现填写为" in text
    assert typed_values([text]) == {}


def test_the_markers_follow_the_reply_templates():
    templates = Path(__file__).parents[1] / "replies" / "templates"
    blank = (templates / "blank_detailed.txt").read_text("utf-8")
    assert extract_fields(blank) == PREFILLED
    assert extract_fields((templates / "blank_simple.txt").read_text("utf-8")) == {}
    request = render_request_info(TICKET)
    reminder = render_reminder(TICKET, on_hold=False, waited=timedelta(days=2))
    assert typed_values([filled(request, TYPED)]) == EXPECTED
    assert typed_values([filled(reminder, TYPED)]) == EXPECTED


def test_a_reply_to_our_request_through_a_poll_completes_the_ticket(desk):
    first = make_mail(
        "运营商：万科新能源\n问题描述：会员卡刷卡后无法启动充电\n",
        subject="会员卡无法充电",
        sender="ops@wanke.example.cn",
        message_id="<first.1@wanke.example.cn>",
    )
    desk.poll(first)
    [request] = desk.replies()
    assert request.get_content().startswith(STANDARD)
    typed = {"订单号(必填)": "20261123194510123456", "运营商初步排查结果": "已重启充电桩，故障依旧"}
    body = "已在下面模板里补充\n\n" + gt_quote(filled(request.get_content(), typed))
    desk.poll(
        make_mail(
            body,
            subject=request["Subject"],
            sender="ops@wanke.example.cn",
            message_id="<second.1@wanke.example.cn>",
            in_reply_to=request["Message-ID"],
            references=request["Message-ID"],
            date=email.utils.format_datetime(
                email.utils.parsedate_to_datetime(request["Date"]) + timedelta(hours=1)
            ),
        )
    )
    [_, ack] = desk.replies()
    text = ack.get_content()
    assert "我们已收到贵司的工单" in text
    for value in ("万科新能源", "20261123194510123456", "已重启充电桩，故障依旧"):
        assert value in text
