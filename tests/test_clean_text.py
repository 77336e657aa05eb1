"""Text from mail is stored and shown without controls, bidi marks or terminal escapes, and
replies mask the operator's phone numbers (SPEC §3a last point, §6a last point)."""

from __future__ import annotations

import json
from email.header import Header

import pytest
from sqlalchemy import text, update
from sqlmodel import select

from ingest.reading.clean_text import clean_data, clean_json, clean_text
from ingest.rules.threads import reply_subject
from ingest.store import db
from ingest.store.models import Message, Outbox, Ticket
from tests.conftest import make_mail
from tests.desk import Desk

OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # writes "echo pwned" to the reader's clipboard
CLEAR = "\x1b[2J"
RLO = "\u202e"
# What must never reach a terminal, a database or a reply: ESC, NUL, BEL, C1 CSI and bidi controls.
UNSAFE = ("\x1b", "\x00", "\x07", "\x9b", "\u202e", "\u2066", "\u200f")

HOSTILE = (
    f"运营商：星星{OSC52}充电\n"
    f"桩站名称：{CLEAR}东区\x00站\n"
    f"订单号：201908302116{RLO}44614873\n"
    "手机号：13512348382\n"
    "问题描述：扫码后\t无法启动\n第二行：屏幕显示 E-07\n"
    f"运营商初步排查结果：已重启{RLO}\n"
)
# Ordinary text: tabs, newlines and Chinese are kept exactly.
DESCRIPTION = "扫码后\t无法启动\n第二行：屏幕显示 E-07"


def _unsafe_in(output: str) -> list[str]:
    return [repr(ch) for ch in UNSAFE if ch in output]


def test_clean_text_removes_escapes_whole_and_keeps_ordinary_text():
    assert clean_text(f"a{OSC52}b{CLEAR}c\x00d{RLO}e\x1b[1;31mf\x1b[0m") == "abcdef"
    assert clean_text("x\x1b]0;title\x1b\\y \x9b2J z\x1b(B") == "xy  z"
    assert clean_text("\u2066隔离\u2069 \u200e标记\u200f \u061c") == "隔离 标记 "
    text_ = "运营商：星星充电\t（备注）\n第二行 ①②，“引号” — 完"
    assert clean_text(text_) is text_  # nothing to remove: the very same string, no copy


def test_a_json_line_is_the_cleaned_data_whatever_character_it_holds():
    # Every character of the first planes, lone surrogates and the sequences above, in a key, a
    # value, a list and a tuple: the shortcut of clean_json never lets one through.
    singles = [chr(c) for c in [*range(0x3100), *range(0xD7F0, 0xE010), 0xFEFF, 0xFFFD, 0x1F600]]
    for ch in [*singles, OSC52, CLEAR, "\x1b[1;31m", "\\u001b", "\\b"]:
        value = {f"k{ch}": [f"a{ch}b", (ch, 1, None)], "n": {"x": f"{ch}"}}
        line = clean_json(value)
        assert line == json.dumps(clean_data(value), ensure_ascii=False), repr(ch)
        assert not any(u in line for u in UNSAFE), repr(ch)
    clean = {"运营商": "星星充电\t第二行\n", "codes": [1001, "桩\\号"]}
    assert json.loads(clean_json(clean)) == clean


@pytest.fixture
def desk(tmp_path, database_url):
    # Wide enough that rich's tables keep each value on one line.
    return Desk(tmp_path, database_url, env={"COLUMNS": "240"})


def _hostile_mail() -> bytes:
    sender = Header(f"运维{CLEAR}小王{RLO}", "utf-8").encode()
    return make_mail(
        HOSTILE,
        subject=f"充电失败{OSC52} 13812345678",
        sender=f"{sender} <ops@xingxing.example.cn>",
    )


def test_hostile_mail_is_stored_clean_and_its_reply_holds_no_escape(desk):
    desk.deliver(_hostile_mail(), "1.eml")
    desk.poll()

    engine = db.open_database(desk.url)
    try:
        with db.session(engine) as session:
            ticket = session.get(Ticket, 1)
            message = session.exec(select(Message).where(Message.direction == "in")).one()
            stored = [
                ticket.subject,
                ticket.operator,
                ticket.station,
                ticket.order_no,
                ticket.description,
                ticket.operator_findings,
                message.subject,
                message.text,
            ]
    finally:
        engine.dispose()
    assert not _unsafe_in("".join(stored))
    assert ticket.operator == "星星充电" and ticket.station == "东区站"
    assert ticket.order_no == "20190830211644614873"
    assert ticket.description == DESCRIPTION  # tab and newline kept
    assert ticket.complete and ticket.subject == "充电失败 13812345678"

    (reply,) = desk.replies()
    body = reply.get_content()
    assert not _unsafe_in(body + str(reply["Subject"]))
    assert (
        "星星充电" in body and "东区站" in body and "135****8382" in body
    )  # the ack echoes the fields
    assert "13512348382" not in body
    assert str(reply["Subject"]) == "Re: 充电失败 138****5678 [工单#1]"


def test_raw_bytes_are_stored_exactly_as_received(desk):
    raw = _hostile_mail()
    desk.deliver(raw, "1.eml")
    desk.poll()
    engine = db.open_database(desk.url)
    try:
        with engine.connect() as conn:
            query = text("SELECT raw FROM message WHERE direction = 'in'")
            stored = conn.execute(query).scalar_one()
    finally:
        engine.dispose()
    assert bytes(stored) == raw and b"\x00" in raw and OSC52.encode() in raw


def test_tickets_and_parse_output_hold_no_escape(desk, tmp_path):
    path = desk.deliver(_hostile_mail(), "1.eml")
    saved = tmp_path / "hostile.eml"
    saved.write_bytes(path.read_bytes())
    desk.poll()

    outputs = {
        "tickets list": desk.gongdan("tickets", "list").output,
        "tickets list --json": desk.gongdan("tickets", "list", "--json").output,
        "tickets show": desk.gongdan("tickets", "show", "1").output,
        "tickets show --json": desk.gongdan("tickets", "show", "1", "--json").output,
        "parse": desk.gongdan("parse", str(saved)).output,
        "parse --json": desk.gongdan("parse", "--json", str(saved)).output,
        "export": desk.gongdan("export").output,
    }
    for command, output in outputs.items():
        assert not _unsafe_in(output), command
        assert "星星充电" in output or "1" in output, command  # something was printed
    assert "星星充电" in outputs["tickets show"] and "东区站" in outputs["tickets show"]
    parsed = json.loads(outputs["parse --json"])
    assert parsed["fields"]["description"] == DESCRIPTION
    assert parsed["fields"]["operator"] == "星星充电"
    assert parsed["fields"]["phone"] == "13512348382"  # parse shows values as written (SPEC §7)
    assert "  运营商: 星星充电" in outputs["parse"]


def test_rows_stored_before_cleaning_are_printed_clean(desk):
    """A database written by an older version may hold escapes; the views clean what they print."""
    desk.deliver(make_mail("运营商：星星充电\n问题描述：3号桩充不上电\n"), "1.eml")
    desk.poll()
    engine = db.open_database(desk.url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(Ticket).values(
                    subject=f"旧{OSC52}主题 [red]标记[/red]",
                    operator=f"旧{CLEAR}运营商{RLO}",
                    description="旧描述\x1b[31m红\x1b[0m",
                )
            )
    finally:
        engine.dispose()
    for args in (
        ("tickets", "list"),
        ("tickets", "show", "1"),
        ("tickets", "list", "--json"),
        ("tickets", "show", "1", "--json"),
        ("export",),
    ):
        output = desk.gongdan(*args).output
        assert not _unsafe_in(output), args
        assert "旧运营商" in output, args
    # A subject is shown as written, never read as rich markup.
    assert "[red]标记[/red]" in desk.gongdan("tickets", "show", "1").output


def test_reply_subject_masks_phones_but_not_order_numbers():
    assert (
        reply_subject("Re: 充电失败 13812345678 [工单#3]", 3) == "Re: 充电失败 138****5678 [工单#3]"
    )
    assert (
        reply_subject("回复：用户 +86 138-1234-5678 扣费", 4)
        == "Re: 用户 +86 138****5678 扣费 [工单#4]"
    )
    # Positive control: order numbers and pile numbers are quoted whole.
    order = "订单20190830211644614873 桩号 13812345678901"
    assert reply_subject(order, 5) == f"Re: {order} [工单#5]"


def test_reply_and_stored_reply_subject_mask_the_phone(desk):
    desk.deliver(
        make_mail("运营商：星星充电\n问题描述：充不上电\n", subject="充电失败 13812345678"), "1.eml"
    )
    desk.deliver(
        make_mail(
            "运营商：星星充电\n问题描述：充不上电\n",
            message_id="<m2@x.example.cn>",
            subject="订单20190830211644614873 扣费两次",
        ),
        "2.eml",
    )
    desk.poll()
    subjects = sorted(str(r["Subject"]) for r in desk.replies())
    assert subjects == [
        "Re: 充电失败 138****5678 [工单#1]",
        "Re: 订单20190830211644614873 扣费两次 [工单#2]",
    ]
    shown = [json.loads(desk.gongdan("tickets", "show", str(n), "--json").output) for n in (1, 2)]
    out = [m["subject"] for d in shown for m in d["messages"] if m["direction"] == "out"]
    assert sorted(out) == subjects  # the outgoing message as stored: masked too


def test_outbox_list_and_status_print_server_text_clean(desk):
    """Error text from a mail server (or a hostile one) reaches `outbox list` and `status` clean."""
    desk.deliver(make_mail("运营商：星星充电\n问题描述：3号桩充不上电\n"), "1.eml")
    desk.poll()
    engine = db.open_database(desk.url)
    try:
        with engine.begin() as conn:
            conn.execute(
                update(Outbox).values(
                    state="failed", attempts=1, last_error=f"550 拒收{OSC52}{CLEAR}原因{RLO}"
                )
            )
    finally:
        engine.dispose()
    listed = desk.gongdan("outbox", "list").output
    assert "550 拒收原因" in listed and not _unsafe_in(listed)
    for args in (("status",), ("status", "--json")):
        assert not _unsafe_in(desk.gongdan(*args).output), args
