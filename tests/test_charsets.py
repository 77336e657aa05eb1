"""Every charset a Chinese mail client sends decodes to correct text."""

import base64

import pytest

from ingest.reading import charsets
from ingest.reading.email_reader import read_email

TEXT = "运营商：镕玥喆堃充电站，停止原因：34"  # 镕玥喆堃 are outside GB2312


def mail(body: bytes, headers: str) -> bytes:
    return (headers.replace("\n", "\r\n") + "\r\n").encode("ascii") + body


def test_gb18030_body_labelled_gb2312():
    raw = mail(
        base64.b64encode(TEXT.encode("gb18030")),
        "From: a@example.cn\nSubject: x\nContent-Type: text/plain; charset=gb2312\n"
        "Content-Transfer-Encoding: base64\n",
    )
    assert read_email(raw).body == TEXT


def test_gbk_encoded_word_subject_labelled_gb2312():
    subject = "充电桩故障 镕玥"
    word = base64.b64encode(subject.encode("gbk")).decode()
    raw = mail(b"x", f"From: a@example.cn\nSubject: =?gb2312?B?{word}?=\n")
    assert read_email(raw).subject == subject


@pytest.mark.parametrize("codec", ["gbk", "gb18030", "utf-8", "big5"])
def test_undeclared_8bit_body(codec):
    text = "運營商：展鵬達，問題描述：無法充電" if codec == "big5" else TEXT
    raw = mail(
        text.encode(codec), "From: a@example.cn\nSubject: x\nContent-Transfer-Encoding: 8bit\n"
    )
    assert read_email(raw).body == text


def test_utf8_body_declared_gb2312_and_gbk_declared_latin1():
    raw = mail(
        TEXT.encode("utf-8"), "From: a@example.cn\nContent-Type: text/plain; charset=gb2312\n"
    )
    assert read_email(raw).body == TEXT
    raw = mail(
        TEXT.encode("gbk"), "From: a@example.cn\nContent-Type: text/plain; charset=iso-8859-1\n"
    )
    assert read_email(raw).body == TEXT


def test_latin1_stays_latin1():
    raw = mail(
        "Grüße aus München".encode("latin-1"),
        "From: a@example.de\nContent-Type: text/plain; charset=iso-8859-1\n",
    )
    assert read_email(raw).body == "Grüße aus München"


def test_raw_8bit_subject_in_gbk_and_in_koi8():
    assert (
        charsets.decode_header("充电桩无法启动".encode("gbk").decode("ascii", "surrogateescape"))
        == "充电桩无法启动"
    )
    assert (
        charsets.decode_header("тест тест".encode("koi8-r").decode("ascii", "surrogateescape"))
        == "тест тест"
    )


def test_rfc2231_gbk_file_name():
    name = "故障照片.jpg"
    from urllib.parse import quote

    raw = mail(
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhi\r\n--b\r\n"
        b"Content-Type: image/jpeg\r\nContent-Transfer-Encoding: base64\r\n"
        + f"Content-Disposition: attachment; filename*=utf-8''{quote(name)}\r\n\r\n".encode()
        + base64.b64encode(b"\xff\xd8\xff")
        + b"\r\n--b--\r\n",
        "From: a@example.cn\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n",
    )
    assert read_email(raw).attachments == [name]


def test_unknown_charset_label_falls_back():
    raw = mail(
        TEXT.encode("gbk"), "From: a@example.cn\nContent-Type: text/plain; charset=x-unknown-cs\n"
    )
    assert read_email(raw).body == TEXT


def test_seven_bit_chinese_and_japanese_encodings():
    assert charsets.decode(b"~{<:Ky2;S{#,NpJ)l6HK!#~}", "hz-gb-2312") == "己所不欲，勿施於人。"
    assert charsets.decode("テスト".encode("iso-2022-jp"), "iso-2022-jp") == "テスト"


def test_a_few_bad_bytes_do_not_discard_the_declared_charset():
    data = TEXT.encode("utf-8")[:-1]  # the last character cut in half
    assert charsets.decode(data, "utf-8").startswith(TEXT[:-1])
    gbk = TEXT.encode("gbk") + b"\xff"  # one stray byte after good GBK text
    assert charsets.decode(gbk, "gbk").startswith(TEXT)


SHORT = (
    "您好，这是我们的工单，请查收。\n运营商：鑫源充电\n桩站名称：三明沙县物流园站\n"
    "问题描述：电量显示与实际不符，用户投诉多扣费。\n运营商初步排查结果：电表读数正常。\n"
)


def test_the_share_of_bad_bytes_decides_not_their_count():
    good = SHORT.encode("utf-8")
    non_ascii = len(good.translate(None, bytes(range(128))))
    assert non_ascii >= 150  # three bad bytes are under 2% of these
    three_bad = good.replace("，".encode(), b"\xff", 3)
    text = charsets.decode(three_bad, "utf-8")
    assert "运营商：鑫源充电" in text and "三明沙县物流园站" in text
    # Bad bytes over 2% of the non-ASCII bytes: the label is wrong, the text is guessed.
    many_bad = good.replace("，".encode(), b"\xff\xfe\xfd", 3).replace("。".encode(), b"\xff", 3)
    assert charsets.decode(many_bad, "utf-8") == charsets.guess(many_bad)
