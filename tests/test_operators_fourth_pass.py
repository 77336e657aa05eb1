"""SPEC §3b's reading rules, as operators write: invisible characters and Unicode spaces,
unmarked signatures, table cells, English labels, phones and piles, several tickets in one mail,
停机码, several From headers. The fixture emails 80-89 (tests/fixtures/make_fourth_corpus.py)
check the same rules through `gongdan parse --json` in tests/test_corpus.py."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ingest.reading.completeness import assess
from ingest.reading.email_reader import read_email
from ingest.reading.fields import extract_fields, read_fields
from ingest.reading.phones import check_phone, foreign_phone
from ingest.reading.stopcodes import stop_codes_in
from ingest.reading.ticket import read_ticket
from replies.render import render_ack
from tests.desk import Desk

EMAILS = Path(__file__).resolve().parent / "fixtures" / "emails"
NOW = "2026-12-05T09:00+08:00"
SIMPLE = "运营商：星桥充电\n问题描述：桩离线\n运营商初步排查结果：已重启，仍离线\n"


def html_mail(html: str, subject: str = "桩离线") -> bytes:
    body = base64.encodebytes(html.encode("utf-8")).decode("ascii")
    return (
        "From: ops@xingqiao-ev.cn\nTo: support@example.cn\nSubject: "
        f"=?utf-8?B?{base64.b64encode(subject.encode()).decode()}?=\n"
        "Message-ID: <t.1@xingqiao-ev.cn>\nMIME-Version: 1.0\n"
        "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\n" + body
    ).encode("ascii")


def text_mail(text: str, subject: str = "桩离线", headers: str = "") -> bytes:
    return (
        f"From: ops@xingqiao-ev.cn\nTo: support@example.cn\n{headers}Subject: "
        f"=?utf-8?B?{base64.b64encode(subject.encode()).decode()}?=\n"
        "Message-ID: <t.2@xingqiao-ev.cn>\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + text
    ).encode("utf-8")


# --------------------------------------------------------------------------- invisible, spaces


@pytest.mark.parametrize("mark", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"])
def test_an_invisible_character_in_a_label_or_value_is_removed(mark):
    fields = extract_fields(
        read_email(text_mail(f"订{mark}单号：2026120110150012{mark}3456\n")).body
    )
    assert fields == {"order_no": "20261201101500123456"}


def test_outlook_html_entities_of_invisible_characters_are_removed():
    html = "<p>订&#8203;单号(必填)：20261201101500123456</p><p>运&#x200D;营商：星桥&#65279;充电</p>"
    reading = read_ticket(html_mail(html))
    assert reading.fields == {"operator": "星桥充电", "order_no": "20261201101500123456"}


@pytest.mark.parametrize("space", ["\u00a0", "\u3000", "\u2002", "\u202f", " \t"])
def test_every_unicode_space_around_labels_colons_and_values(space):
    text = (
        f"桩站名称{space}：{space}平湖中泰站{space}\n"
        f"充电桩号{space}:{space}44040300060000100012{space}\n"
    )
    assert extract_fields(text) == {"station": "平湖中泰站", "pile_no": "44040300060000100012"}


def test_a_space_inside_a_value_is_kept_as_written():
    fields = extract_fields("问题描述：A\u3000B 两个桩\n")
    assert fields == {"description": "A\u3000B 两个桩"}


# --------------------------------------------------------------------------- tables


def test_a_table_cell_takes_the_next_cell_only_and_a_trigger_cell_its_number():
    html = (
        "<table><tr><td>运营商</td><td>佳程充电</td></tr>"
        "<tr><td>异常状态</td><td>无</td><td>停止原因</td><td>46</td></tr>"
        "<tr><td>问题描述</td><td>充电中断</td><td>见附件照片</td></tr>"
        "<tr><td>运营商初步排查结果</td><td>已更换2号功率模块</td></tr></table><div>周婷</div>"
    )
    reading = read_ticket(html_mail(html))
    assert reading.fields == {
        "operator": "佳程充电",
        "abnormal_status": "无",
        "description": "充电中断",
        "operator_findings": "已更换2号功率模块",
    }
    assert [c["code"] for c in reading.stop_codes] == [46]
    # The stored text keeps every cell and the name, without the reader's marks.
    assert "周婷" in reading.mail.body and "见附件照片" in reading.mail.body
    assert "\ufdd0" not in reading.mail.body


def test_a_multiline_value_cell_and_a_header_row_still_read():
    """Positive controls: a value cell of several paragraphs, and labels over values."""
    html = (
        "<table><tr><td>问题描述</td><td><p>充不上电</p><p>屏幕黑屏</p></td>"
        "<td>停止原因</td><td>34</td></tr></table>"
        "<table><tr><th>运营商</th><th>运营商初步排查结果</th></tr>"
        "<tr><td>星桥充电</td><td>已重启</td></tr></table><p>张三</p>"
    )
    reading = read_ticket(html_mail(html))
    assert reading.fields == {
        "operator": "星桥充电",
        "description": "充不上电\n屏幕黑屏",
        "operator_findings": "已重启",
    }
    assert [c["code"] for c in reading.stop_codes] == [34]


def test_a_mail_cannot_bring_the_readers_table_mark():
    """U+FDD0 typed into a mail ends nothing: the block value runs on as written."""
    reading = read_ticket(text_mail("问题描述：第一行\n\ufdd0\n第二行也是描述。\n"))
    assert reading.fields == {"description": "第一行\n\n第二行也是描述。"}


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    "signature",
    [
        "张伟\n星桥充电 运维部\n杭州市滨江区江南大道88号",
        "Zhang Wei\n13912345678",
        "Zhang Wei\nzhangwei@xingqiao-ev.cn",
        "星桥充电科技有限公司",
        "Siam EV Co., Ltd.",
    ],
)
def test_an_unmarked_signature_ends_the_block(signature):
    assert extract_fields(f"{SIMPLE}\n{signature}\n")["operator_findings"] == "已重启，仍离线"


@pytest.mark.parametrize(
    "paragraph",
    [
        "已派人到场检查。",  # a sentence: part of the findings
        "现场网络正常\n电表正常\n屏幕正常\n枪头正常\n运维部已确认",  # five lines: too long
        "这个问题已经持续了大约两个星期的时间了期间我们的运维人员多次到场",  # over 30 characters
    ],
)
def test_a_last_paragraph_that_is_no_signature_stays_in_the_value(paragraph):
    assert extract_fields(f"{SIMPLE}\n{paragraph}\n")["operator_findings"] == (
        f"已重启，仍离线\n\n{paragraph}"
    )


def test_a_labelled_last_paragraph_is_read_as_fields():
    fields = extract_fields(f"{SIMPLE}\n手机号：13912345678\n")
    assert fields["phone"] == "13912345678" and fields["operator_findings"] == "已重启，仍离线"


# --------------------------------------------------------------------------- English labels


def test_english_labels_in_any_letter_case():
    text = (
        "OPERATOR: Siam EV\nstation name: Rama 9\nMobile: +66 81 234 5678\n"
        "order id: 20261203091500778899\nCharger ID: 66010300020000100007\n"
        "Network Status: 4G ok\nRecent faults: none\nAbnormal bill: no\nAbnormal status: none\n"
        "Problem Description: stops\nafter two minutes\nOperator findings: cable replaced\n"
        "Status: [x] 处理中\nEngineer: Li\n---Tracking\ncalled site\n"
    )
    assert extract_fields(text) == {
        "operator": "Siam EV",
        "station": "Rama 9",
        "phone": "+66 81 234 5678",
        "order_no": "20261203091500778899",
        "pile_no": "66010300020000100007",
        "network_status": "4G ok",
        "recent_faults": "none",
        "abnormal_bill": "no",
        "abnormal_status": "none",
        "description": "stops\nafter two minutes",
        "operator_findings": "cable replaced",
        "status": "in_progress",
        "engineer": "Li",
        "tracking": "called site",
    }


def test_an_english_label_inside_a_longer_word_is_no_label():
    assert extract_fields("Telephone: 13912345678\nSubstation: A\n") == {}


# --------------------------------------------------------------------------- phones, piles


@pytest.mark.parametrize(
    "phone", ["+86 138-0013-8000", "0086 13800138000", "86 13800138000", "+86 571 8888 6666"]
)
def test_a_mainland_prefix_and_single_separators_are_ignored(phone):
    assert check_phone(phone) is None and not foreign_phone(phone)
    result = assess({**extract_fields(SIMPLE), "phone": phone})
    assert "phone" not in result.invalid and not result.warnings


def test_a_foreign_number_is_kept_with_a_warning_not_invalid():
    fields = extract_fields(SIMPLE + "手机号：+66 81 234 5678\n")
    assert fields["phone"] == "+66 81 234 5678"  # as written
    result = assess(fields)
    assert result.invalid == {} and result.warnings == ["phone: not a mainland China number"]
    # Positive control: a broken number is still invalid.
    assert assess({**fields, "phone": "138001380001"}).invalid == {
        "phone": "not a mobile, landline or masked number"
    }


def test_a_pile_number_is_validated_without_spaces_but_hyphens_stay_invalid():
    spaced = extract_fields("充电桩号：\u00a04404 0300 0600 0010 0012\u00a0\n")
    assert spaced == {"pile_no": "4404 0300 0600 0010 0012"}
    assert "pile_no" not in assess(spaced).invalid
    assert assess({"pile_no": "4404-0300-0600-0010"}).invalid == {"pile_no": "not digits"}


# --------------------------------------------------------------------------- several tickets


def test_the_template_filled_twice_reads_the_first_and_counts_two():
    first = "【故障一】\n" + SIMPLE
    second = "【故障二】\n运营商：星桥充电\n问题描述：屏幕不亮\n运营商初步排查结果：待查\n"
    read = read_fields(first + second)
    assert read.fields == extract_fields(SIMPLE) and read.tickets == 2
    result = assess(read.fields, tickets=read.tickets)
    assert result.warnings == ["the mail seems to hold 2 tickets; only the first was read"]


def test_one_label_written_twice_is_still_one_ticket():
    assert read_fields(SIMPLE + "手机号：13912345678\n手机号：13812345678\n").tickets == 1


def test_the_ack_of_a_mail_with_two_tickets_says_only_the_first_was_taken(tmp_path):
    desk = Desk(tmp_path, f"sqlite:///{tmp_path}/gongdan.db")
    desk.deliver((EMAILS / "87_template_filled_twice.eml").read_bytes())
    desk.deliver((EMAILS / "84_foxmail_unmarked_signature.eml").read_bytes())
    assert desk.gongdan("poll", "--now", NOW).exit_code == 0
    twice = desk.replies_to("ops@shunda.cn")
    once = desk.replies_to("zhangwei@xingqiao-ev.cn")
    assert len(twice) == 1 and len(once) == 1
    text = twice[0].get_content()
    assert "2 份工单" in text and "只受理了第一份" in text and "每个故障单独发一封邮件" in text
    assert "1号桩充电中途停止" in text and "2号桩屏幕不亮" not in text
    assert "只受理了第一份" not in once[0].get_content()  # one ticket: no such sentence


def test_the_ack_template_without_the_count_says_nothing_of_it():
    ticket = {"id": 7, "fields": {"operator": "星桥充电"}, "status": "in_progress"}
    assert "只受理了第一份" not in render_ack(ticket)
    assert "3 份工单" in render_ack({**ticket, "tickets_in_mail": 3})


# --------------------------------------------------------------------------- stop codes, From


def test_tingji_triggers_are_stop_code_triggers_and_guzhang_ma_is_not():
    codes = stop_codes_in("停机码47，停机代码：9；故障码 12，停止代码：E47", "sinexcel")
    assert [c["code"] for c in codes] == [47, 9]
    assert stop_codes_in("停機碼34", "sinexcel")[0]["code"] == 34  # traditional form


def test_several_from_headers_are_one_from_list():
    raw = text_mail(SIMPLE).replace(
        b"From: ops@xingqiao-ev.cn\n",
        b"From: [??????]\nFrom: =?utf-8?B?5byg5Lyf?= <zhangwei@xingqiao-ev.cn>\n",
    )
    mail = read_email(raw)
    assert (mail.from_name, mail.from_address) == ("张伟", "zhangwei@xingqiao-ev.cn")
    # Positive control: one From header reads as before.
    assert read_email(text_mail(SIMPLE)).from_address == "ops@xingqiao-ev.cn"
