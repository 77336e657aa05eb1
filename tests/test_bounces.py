"""Delivery failure reports (SPEC §6a): what ingest/reading/bounces.py says a bounce is about,
and that the copy of our reply inside it is never read as fields or stop codes."""

from __future__ import annotations

from pathlib import Path

from ingest.reading.ticket import read_ticket

EMAILS = Path(__file__).resolve().parent / "fixtures" / "emails"
ACK_ID = "<gongdan.1764295200123456789.3f2a9c1d5e7b8a60@desk.example.cn>"


def read(name: str):
    return read_ticket((EMAILS / name).read_bytes())


def test_163_system_bounce_names_our_ack_and_reads_nothing_from_it():
    got = read("h01_163_system_bounce_of_our_ack.eml")
    assert got.bounce is not None
    assert got.bounce.message_ids == (ACK_ID,)
    assert got.bounce.subject == "Re: 充电桩故障 [工单#12]"
    assert "收件人邮箱地址不存在" in got.bounce.own_text
    # The returned ack holds 运营商/订单号/… and `34 紧急停机`: none of it is the bounce's.
    assert got.fields == {} and got.stop_codes == []
    assert got.auto_submitted and got.action == "none"


def test_qmail_text_bounce_cuts_the_inline_copy():
    got = read("h02_qmail_text_bounce_of_our_ack.eml")
    assert got.bounce.message_ids == (ACK_ID,)
    assert got.bounce.subject == "Re: 充电桩故障 [工单#12]"
    assert got.bounce.own_text.startswith("Hi. This is the qmail-send program")
    assert "运营商" not in got.bounce.own_text
    assert got.fields == {} and got.stop_codes == []


def test_postfix_dsn_gives_the_returned_id_subject_and_recipient():
    got = read("48_postfix_dsn.eml")
    assert got.bounce.message_ids == ("<gongdan.11.1710036000@example.cn>",)
    assert got.bounce.subject == "充电桩故障工单"
    assert got.bounce.recipients == ("nobody@example.com",)


def test_exchange_ndr_is_a_bounce_of_the_mail_it_answers():
    got = read("47_exchange_undeliverable.eml")
    assert got.bounce.message_ids == ("<gongdan.11.1710036000@example.cn>",)
    assert got.bounce.recipients == ("nobody@example.com",)


def test_postfix_plain_text_bounce_without_mime():
    raw = (
        "Return-Path: <>\n"
        "From: MAILER-DAEMON@mx.desk.example.cn (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "\n"
        "This is the mail system at host mx.desk.example.cn.\n"
        "\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n"
        "\n"
        "<wang@ops.example.cn>: host mx.ops.example.cn said: 550 User unknown\n"
        "\n"
        "Received: by mx.desk.example.cn (Postfix) id 4F2A1C0123\n"
        "Message-ID: <gongdan.9.1@desk.example.cn>\n"
        "Subject: Re: 停止原因：34 [工单#9]\n"
        "\n"
        "运营商：云能充\n停止代号：\n    34 紧急停机\n"
    ).encode()
    got = read_ticket(raw)
    assert got.bounce.message_ids == ("<gongdan.9.1@desk.example.cn>",)
    assert got.bounce.subject == "Re: 停止原因：34 [工单#9]"
    assert got.fields == {} and got.stop_codes == []


def test_a_delay_warning_and_a_read_receipt_are_automatic_but_no_bounce():
    delayed = (
        (EMAILS / "48_postfix_dsn.eml").read_bytes().replace(b"Action: failed", b"Action: delayed")
    )
    for got in (read_ticket(delayed), read("49_read_receipt.eml")):
        assert got.bounce is None
        assert got.auto_submitted and got.action == "none"


def test_an_operator_writing_is_no_bounce():
    got = read("24_seed_example.eml")
    assert got.bounce is None and got.fields
