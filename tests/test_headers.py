"""Headers as real clients break them (SPEC §3a): ingest/reading/headers.py through read_email.

The fixture corpus (tests/fixtures/emails/h03-h08) holds one whole mail per rule; these tests
pin the edges around each rule.
"""

from __future__ import annotations

import base64

import pytest

from ingest.reading.email_reader import read_email
from ingest.reading.headers import first_address, repair


def mail(*header_lines: bytes | str, body: bytes = b"body\n") -> bytes:
    lines = [h.encode("utf-8") if isinstance(h, str) else h for h in header_lines]
    return b"\n".join(lines) + b"\n\n" + body


def b_word(text: str, charset: str = "utf-8") -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


# --- raw 8-bit values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw_subject,charset_line,expected",
    [
        # Japanese clients: Shift_JIS (declared or not), EUC-JP, and ISO-2022-JP escapes raw.
        ("充電が停止しました".encode("shift_jis"), b"", "充電が停止しました"),
        ("充電が停止しました".encode("shift_jis"), b"charset=iso-2022-jp", "充電が停止しました"),
        ("ステーションの件です".encode("euc_jp"), b"", "ステーションの件です"),
        ("お問い合わせの件".encode("iso-2022-jp"), b"", "お問い合わせの件"),
        # Chinese stays Chinese: no Japanese reading of GBK or of a declared Big5.
        ("充电桩故障停止".encode("gbk"), b"", "充电桩故障停止"),
        ("測試".encode("big5"), b"charset=big5", "測試"),  # guessed alone, it reads as 代刚
        ("運營商測試".encode(), b"charset=gb2312", "運營商測試"),  # RFC 6532: UTF-8 first
    ],
)
def test_raw_subject_decodes_like_a_body(raw_subject, charset_line, expected):
    content_type = b"Content-Type: text/plain; " + charset_line if charset_line else b"X-A: b"
    got = read_email(mail(b"From: a@ops.example.cn", b"Subject: " + raw_subject, content_type))
    assert got.subject == expected


def test_raw_subject_takes_the_charset_of_the_first_text_part():
    raw = mail(
        b"From: a@ops.example.cn",
        b"Subject: " + "測試".encode("big5"),
        b'Content-Type: multipart/mixed; boundary="b"',
        body=b'--b\nContent-Type: text/plain; charset="big5"\n\nhi\n--b--\n',
    )
    assert read_email(raw).subject == "測試"


def test_raw_display_name_and_attachment_name_in_the_declared_charset():
    name = "測試報告.pdf".encode("big5")
    raw = mail(
        b"From: " + "測試".encode("big5") + b" <tw@ops.example.tw>",
        b"Subject: x",
        b'Content-Type: multipart/mixed; boundary="b"',
        body=b"--b\nContent-Type: text/plain; charset=big5\n\nhi\n--b\n"
        b'Content-Type: application/pdf\nContent-Disposition: attachment; filename="'
        + name
        + b'"\n\nJVBERi0=\n--b--\n',
    )
    got = read_email(raw)
    assert (got.from_name, got.from_address) == ("測試", "tw@ops.example.tw")
    assert got.attachments == ["測試報告.pdf"]


def test_nul_and_escapes_never_reach_a_header_value():
    raw = mail(
        b"From: " + b_word("王\x00工").encode() + b" <w@ops.example.cn>",
        b"To: desk\x00@desk.example.cn",
        b"Subject: \xe5\x85\x85\xe7\x94\xb5\x00\x1b[2J\xe6\xa1\xa9",
        b"Message-ID: <a\x00b@ops.example.cn>",
        b'Content-Type: multipart/mixed; boundary="b"',
        body=b"--b\nContent-Type: text/plain\n\nhi\n--b\n"
        b'Content-Disposition: attachment; filename="\xe6\x8a\xa5\x00.txt"\n\nx\n--b--\n',
    )
    got = read_email(raw)
    assert got.subject == "充电桩"
    assert got.from_name == "王工"
    assert got.message_id == "<ab@ops.example.cn>"
    assert got.to == ["desk@desk.example.cn"]
    assert got.attachments == ["报.txt"]
    assert not any("\x00" in v for values in got.header_values.values() for v in values)


# --- addresses ---------------------------------------------------------------------------------


def test_an_encoded_word_with_a_comma_is_one_name_in_every_address_header():
    word = "=?gb2312?Q?=D5=C5=C8=FD,=CA=DB=BA=F3?="
    raw = mail(
        f"From: {word} <zs@ops.example.cn>",
        f"To: {word} <zs@ops.example.cn>, desk@desk.example.cn",
        "Subject: x",
    )
    got = read_email(raw)
    assert (got.from_name, got.from_address) == ("张三,售后", "zs@ops.example.cn")
    assert got.to == ["zs@ops.example.cn", "desk@desk.example.cn"]


@pytest.mark.parametrize(
    "value,expected",
    [
        ('"乐源" <>, "LTD" <ly@leyuan.example.cn>', ("LTD", "ly@leyuan.example.cn")),
        ("<>, b@ops.example.cn", ("", "b@ops.example.cn")),
        ("Ops <OPS@Example.CN>", ("Ops", "ops@example.cn")),
        ("<>", ("", "")),
        ("", ("", "")),
    ],
)
def test_the_sender_is_the_first_entry_with_an_address(value, expected):
    assert first_address(value) == expected


# --- the header block --------------------------------------------------------------------------


def test_headers_after_a_stray_decoration_line_are_kept():
    raw = mail(
        "From: a@ops.example.cn",
        "---------- Original email message ----------",
        f"Subject: {b_word('桩站离线')}",
        "Message-ID: <m1@ops.example.cn>",
    )
    got = read_email(raw)
    assert (got.from_address, got.subject, got.message_id) == (
        "a@ops.example.cn",
        "桩站离线",
        "<m1@ops.example.cn>",
    )
    assert got.body == "body"


def test_a_fold_without_whitespace_joins_the_header_above_with_crlf():
    raw = mail(
        f"Subject: {b_word('充电桩')}\r",
        f"{b_word('故障')}\r",
        "From: a@ops.example.cn\r",
        "In-Reply-To: <p@desk.example.cn>\r",
        body=b"\r\nbody\r\n",
    )
    got = read_email(raw.replace(b"\n\n", b"\n", 1))
    assert (got.subject, got.from_address, got.in_reply_to) == (
        "充电桩故障",
        "a@ops.example.cn",
        "<p@desk.example.cn>",
    )


def test_a_body_written_without_a_blank_line_is_not_taken_for_headers():
    # No real header follows the odd lines, so they still start the body, as before.
    raw = b"From: a@ops.example.cn\nSubject: x\nHello\nTel: 123\n\nmore\n"
    assert repair(raw) == raw
    got = read_email(raw)
    assert got.subject == "x" and "Hello" in got.body and "Tel: 123" in got.body


def test_well_formed_mail_is_not_copied():
    raw = b"From a@b Thu Nov 27 10:00:00 2026\nFrom: a@b.cn\nSubject: x\n  folded\n\nbody\n"
    assert repair(raw) is raw
