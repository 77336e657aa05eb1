"""What an operator reads in our replies, and the headers their mail client sees (replies/)."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from replies import compose, render
from replies.compose import compose_reply, make_message_id
from replies.render import reason_zh, render_ack, render_request_info, render_resolved

STANDARD = (
    "已收到问题。平台方会优先处理故障信息足够的工单。因贵司提供的工单缺少关键信息,"
    "我方还需额外分析梳理相关资料,请耐心等待。"
)
TEMPLATES = Path(render.__file__).parent / "templates"
SIMPLE_BLANK = "运营商:\n问题描述:\n-------------------------\n运营商初步排查结果:\n"


def ticket(**changes) -> dict:
    base = {
        "id": 12,
        "subject": "充电异常扣费",
        "template": "detailed",
        "fields": {
            "operator": "展鹏达",
            "station": "平湖中泰站",
            "phone": "13512348382",
            "order_no": "20190830211644614873",
            "pile_no": "35010400080000200015",
            "description": (
                "用户表示相近时间内产生多笔订单，要求核实。\n用户电话 13512348382，同意告知运营商。"
            ),
            "operator_findings": "运营商调取监控，初步判断扫错了枪号。",
        },
        "missing": [],
        "invalid": {},
        "stop_codes": [
            {"vendor": "sinexcel", "code": 34, "meaning": "紧急停机", "known": True},
            {"vendor": "sinexcel", "code": 77, "meaning": "未知代号", "known": False},
        ],
        "status": "in_progress",
        "engineer": None,
    }
    base.update(changes)
    return base


def incomplete(template: str = "detailed") -> dict:
    """operator_findings absent and order_no `2019A` (invalid, so missing too)."""
    fields = {
        "operator": "展鹏达",
        "phone": "13512348382",
        "order_no": "2019A",
        "description": "充电中途停止，停止原因 34",
    }
    return ticket(
        template=template,
        fields=fields,
        missing=["order_no", "operator_findings"],
        invalid={"order_no": "not digits"},
    )


def parse(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def body_of(msg) -> str:
    return msg.get_content().replace("\r\n", "\n")


def reply(**changes) -> bytes:
    args = dict(
        body="正文\n第二行",
        from_address="support@gongdan.example.cn",
        to_address="ops@xingxing.example.cn",
        original_subject="充电桩故障",
        ticket_id=12,
        in_reply_to="<m2@xingxing.example.cn>",
        references=["<m0@xingxing.example.cn>", "<m1@xingxing.example.cn>"],
        message_id="<gongdan.1.abc@gongdan.example.cn>",
        date=datetime(2026, 11, 30, 9, 0, tzinfo=UTC),
    )
    args.update(changes)
    return compose_reply(**args)


# --- blank templates --------------------------------------------------------------------------


def test_blank_templates_are_the_seeds(seed_text):
    from tests.seed import section

    simple = section(seed_text, "## 简易工单\n", "\n\n")
    detailed = section(seed_text, "## 详细工单\n", "售后(跟单)工程师:") + "售后(跟单)工程师:"
    assert (TEMPLATES / "blank_simple.txt").read_text("utf-8") == simple + "\n"
    assert (TEMPLATES / "blank_detailed.txt").read_text("utf-8") == detailed + "\n"


def test_blank_templates_read_back_as_empty_fields():
    from ingest.reading.fields import extract_fields

    assert extract_fields((TEMPLATES / "blank_simple.txt").read_text("utf-8")) == {}
    # The seed's blank keeps its pre-marked status; nothing else is filled in.
    assert extract_fields((TEMPLATES / "blank_detailed.txt").read_text("utf-8")) == {
        "status": "in_progress"
    }


# --- request_info -----------------------------------------------------------------------------


def test_request_info_starts_with_the_standard_reply():
    text = render_request_info(incomplete())
    assert text.split("\n")[0] == STANDARD
    assert "耐性" not in text


def test_request_info_lists_missing_and_invalid_fields_by_label():
    lines = render_request_info(incomplete()).split("\n")
    order_line = next(line for line in lines if "订单号(必填)" in line and "——" in line)
    findings_line = next(line for line in lines if "运营商初步排查结果" in line and "——" in line)
    assert "只能包含数字" in order_line and "2019A" in order_line
    assert "未填写" in findings_line
    assert lines.index(order_line) < lines.index(findings_line)  # the seed's order
    assert not any("operator_findings" in line or "not digits" in line for line in lines)


def test_request_info_gives_the_detailed_blank_when_order_no_is_missing():
    text = render_request_info(incomplete(template="simple"))
    assert (TEMPLATES / "blank_detailed.txt").read_text("utf-8") in text
    assert "是否异常账单(根据账单号搜索): 异常状态:\n" in text


def test_request_info_gives_the_simple_blank_otherwise():
    t = ticket(
        template="simple",
        fields={"operator": "展鹏达", "description": "后台无法登录"},
        missing=["operator_findings"],
        invalid={},
    )
    text = render_request_info(t)
    assert SIMPLE_BLANK in text
    assert "桩站名称:" not in text
    assert "[工单#12]" in text


def test_request_info_never_prints_a_phone_unmasked():
    t = incomplete()
    t["fields"]["phone"] = "1351234838"
    t["invalid"]["phone"] = "not a mobile, landline or masked number"
    text = render_request_info(t)
    assert "不是有效的手机号、座机号或打码号码" in text
    assert "1351234838" not in text


def test_reason_zh():
    assert reason_zh("operator", None) == "未填写"
    assert reason_zh("order_no", "not digits") == "只能包含数字"
    assert reason_zh("order_no", "9 digits, expected 10-32") == "应为10-32位数字（现为9位）"
    assert reason_zh("pile_no", "5 digits, expected 8-32") == "应为8-32位数字（现为5位）"
    assert (
        reason_zh("phone", "not a mobile, landline or masked number")
        == "不是有效的手机号、座机号或打码号码"
    )
    assert reason_zh("order_no", "something new") == "something new"


# --- ack and resolved -------------------------------------------------------------------------


def test_ack_lists_fields_with_the_phone_masked_and_stop_codes():
    text = render_ack(ticket())
    assert "[工单#12]" in text
    assert "运营商：展鹏达" in text
    assert "订单号(必填)：20190830211644614873" in text
    assert "手机号：135****8382" in text
    assert "13512348382" not in text  # neither the field nor the number in the description
    assert "34 紧急停机" in text and "77 未知代号" in text
    assert "处理中" in text
    # A block keeps its lines, indented under its label.
    assert (
        "问题描述：\n    用户表示相近时间内产生多笔订单，要求核实。\n    用户电话 135****8382"
        in text
    )


def test_ack_keeps_engineer_notes_out_and_names_the_engineer():
    t = ticket(engineer="小明")
    t["fields"]["analysis"] = "内部分析：疑似平台计费重复"
    text = render_ack(t)
    assert "内部分析" not in text
    assert "售后(跟单)工程师：小明" in text


def test_resolved_notice():
    t = ticket(status="resolved", engineer="小明")
    t["fields"]["resolution"] = "建议运营商在异常账单中手工修复。"
    text = render_resolved(t)
    assert "[工单#12]" in text and "已解决" in text
    assert "建议运营商在异常账单中手工修复。" in text


def test_template_folder_override_wins(tmp_path):
    (tmp_path / "ack.txt.j2").write_text("自定义确认 {{ tag }} {{ status }}\n", "utf-8")
    assert render_ack(ticket(), template_dir=str(tmp_path)) == "自定义确认 [工单#12] 处理中\n"
    # Templates the folder lacks still come from the package.
    assert render_request_info(incomplete(), template_dir=str(tmp_path)).startswith(STANDARD)


def test_override_cannot_reach_an_unmasked_phone(tmp_path):
    (tmp_path / "ack.txt.j2").write_text(
        "{% for f in fields %}{{ f.value }}\n{% endfor %}", "utf-8"
    )
    assert "13512348382" not in render_ack(ticket(), template_dir=str(tmp_path))


# --- compose ----------------------------------------------------------------------------------


def test_reply_headers_and_body():
    msg = parse(reply())
    assert msg["From"].addresses[0].display_name == "售后工单"
    assert msg["From"].addresses[0].addr_spec == "support@gongdan.example.cn"
    assert msg["To"].addresses[0].addr_spec == "ops@xingxing.example.cn"
    assert msg["Subject"] == "Re: 充电桩故障 [工单#12]"
    assert msg["In-Reply-To"] == "<m2@xingxing.example.cn>"
    assert msg["References"].split() == [
        "<m0@xingxing.example.cn>",
        "<m1@xingxing.example.cn>",
        "<m2@xingxing.example.cn>",
    ]
    assert msg["Message-ID"] == "<gongdan.1.abc@gongdan.example.cn>"
    assert msg["Date"].datetime is not None
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["MIME-Version"] == "1.0"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg["Content-Transfer-Encoding"] in ("base64", "quoted-printable")
    assert body_of(msg) == "正文\n第二行\n"


def test_raw_headers_are_encoded_words():
    raw = reply()
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert re.search(rb"^From: =\?utf-8\?[bq]\?", head, re.M | re.I)
    assert re.search(rb"^Subject: Re: =\?utf-8\?[bq]\?", head, re.M | re.I)


def test_reply_subject_does_not_pile_up():
    msg = parse(reply(original_subject="回复: Re: 充电桩故障 [工单#12]"))
    assert msg["Subject"] == "Re: 充电桩故障 [工单#12]"


def test_references_dedupe_keep_order_and_cap():
    # SPEC §6b: the first and the last 20 ids, plus the message answered (it was 20 in all).
    refs = [f"<r{i}@x.cn>" for i in range(60)]
    msg = parse(
        reply(references=[" ".join(refs), "<r3@x.cn>", "<r59@x.cn>"], in_reply_to="<r59@x.cn>")
    )
    got = msg["References"].split()
    assert len(got) == 41 and len(set(got)) == 41
    assert got[:20] == refs[:20]  # the thread's root and its first messages
    assert got[20:] == refs[39:]  # then the most recent, the parent last
    short = parse(reply(references=[" ".join(refs[:30]), "<r3@x.cn>"], in_reply_to="<r29@x.cn>"))
    assert short["References"].split() == refs[:30]  # once each, in order, parent last


def test_long_message_ids_are_not_encoded():
    long_id = "<" + "a" * 150 + "@mail.example.cn>"
    msg = parse(reply(in_reply_to=long_id, references=[]))
    assert msg["In-Reply-To"] == long_id
    assert msg["References"] == long_id


def test_malformed_message_ids_are_dropped():
    msg = parse(
        reply(in_reply_to="<a b@x>", references=["no-brackets@x", "<ok@x>", "<x@y>\r\nBcc: e@x"])
    )
    assert msg["In-Reply-To"] is None
    assert msg["References"].split() == ["<ok@x>", "<x@y>"]
    assert msg["Bcc"] is None


def test_subject_injection_makes_no_header():
    raw = reply(original_subject="故障\r\nBcc: evil@example.com")
    msg = parse(raw)
    assert msg["Bcc"] is None and msg.get_all("Bcc") is None
    assert "\n" not in msg["Subject"] and "\r" not in msg["Subject"]
    assert msg["Subject"].endswith("[工单#12]")
    assert not re.search(rb"^bcc:", raw, re.M | re.I)


def test_ten_thousand_character_subject():
    raw = reply(original_subject="故障" * 5000)
    msg = parse(raw)
    subject = msg["Subject"]
    assert "\n" not in subject
    assert len(subject) <= 200
    assert subject.startswith("Re: 故障") and subject.endswith(" [工单#12]")
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert body_of(msg) == "正文\n第二行\n"


def test_bidi_nul_and_lone_surrogates_removed():
    msg = parse(
        reply(
            original_subject="\u202e故障\u2066单\u200f\x00号\udcff",
            to_address="\u202dops@xingxing.example.cn",
        )
    )
    assert msg["Subject"] == "Re: 故障单号 [工单#12]"
    assert msg["To"].addresses[0].addr_spec == "ops@xingxing.example.cn"


def test_hostile_address_is_refused():
    with pytest.raises(ValueError):
        reply(to_address="ops@x.cn\r\nBcc: evil@example.com")
    with pytest.raises(ValueError):
        reply(to_address="not an address")


def test_display_name_of_recipient_survives():
    msg = parse(reply(to_address="星星充电 <ops@xingxing.example.cn>"))
    assert msg["To"].addresses[0].display_name == "星星充电"


def test_make_message_id_is_fresh():
    ids = {make_message_id("gongdan.example.cn") for _ in range(200)}
    assert len(ids) == 200
    for msg_id in ids:
        assert re.fullmatch(r"<gongdan\.\d+\.[0-9a-f]+@gongdan\.example\.cn>", msg_id)
    assert compose.clean_message_id(make_message_id("bad\r\ndomain")) is not None


def test_rendered_reply_round_trip():
    body = render_request_info(incomplete())
    msg = parse(reply(body=body))
    assert body_of(msg).startswith(STANDARD + "\n")
    assert "13512348382" not in body_of(msg)


def test_ack_says_a_code_of_a_brand_without_a_table_is_not_in_our_tables():
    # As read (meaning None) and as stored and read back (the column holds "").
    for meaning in (None, ""):
        codes = [
            {"vendor": "特来电", "code": 41, "meaning": meaning, "known": False},
            {"vendor": "sinexcel", "code": 41, "meaning": "电表通讯异常", "known": True},
        ]
        text = render_ack(ticket(stop_codes=codes))
        assert "41（特来电桩的停止代号，不在我方停止代号表中，售后工程师将人工核实）" in text
        assert "41 电表通讯异常" in text
        assert "未知代号" not in text
