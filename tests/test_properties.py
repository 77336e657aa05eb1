"""Properties of reading an email: no crash on any bytes, bounded time, every label form works."""

from __future__ import annotations

import base64
import json
import re
import time
import tomllib
from importlib import resources

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.reading.email_reader import NotAnEmail
from ingest.reading.fields import extract_fields
from ingest.reading.ticket import read_ticket

# --------------------------------------------------------------------------------------------
# 1. read_ticket raises nothing but NotAnEmail, whatever the bytes

TICKET = (
    "运营商：展鹏达\n桩站名称：平湖中泰站\n手机号：135****8382\n订单号(必填)：20190830211644614873\n"
    "充电桩号：35010400080000200015\n是否异常账单(根据账单号搜索): 否 异常状态: 无\n"
    "问题描述：用户表示多笔订单,停止原因：34（紧急停机）、2\n-------------------------\n"
    "运营商初步排查结果：\n已重启。\n---跟踪\n已联系。\n"
    "状态(☑表示选定 ): 已解决 | ☑ 处理中 | 暂搁置\n"
    "\n-----原始邮件-----\n发件人: support <support@example.cn>\n发送时间: 2024年5月1日 10:00\n"
    "收件人: ops@example.cn\n主题: 工单\n\n> 运营商：旧的\n> 问题描述：旧的描述\n"
)
HEADERS = (
    "From: =?gb2312?B?1cW8rw==?= <ops@example.cn>\r\nTo: support@example.cn\r\n"
    "Subject: =?utf-8?B?5YWF55S15qGp5byC5bi4?=\r\nDate: Wed, 1 May 2024 10:00:00 +0800\r\n"
    "Message-ID: <a1@example.cn>\r\nMIME-Version: 1.0\r\n"
)
REALISTIC = [
    # 8-bit UTF-8 plain text
    (
        HEADERS
        + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode()
    + TICKET.replace("\n", "\r\n").encode("utf-8"),
    # Foxmail: GBK text labelled gb2312, base64, with an attachment
    (
        HEADERS + 'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
        'Content-Type: text/plain; charset="gb2312"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(TICKET.encode("gb18030")).decode()
        + "\r\n--b1\r\nContent-Type: image/jpeg; name*=utf-8''%E7%85%A7%E7%89%87.jpg\r\n"
        "Content-Disposition: attachment; filename*=utf-8''%E7%85%A7%E7%89%87.jpg\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n/9j/4AAQSkZJRgABAQAAAQABAAD/\r\n--b1--\r\n"
    ).encode(),
    # QQ: HTML only, <div> lines with &nbsp;
    (
        HEADERS
        + 'Content-Type: text/html; charset="gb18030"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
    ).encode()
    + "".join(f"<div>{line or '&nbsp;'}</div>" for line in TICKET.split("\n")).encode("gb18030"),
]


def _check_reading(raw: bytes) -> None:
    try:
        reading = read_ticket(raw)
    except NotAnEmail:
        return
    # What `gongdan parse --json` prints must be producible and printable as UTF-8.
    json.dumps(reading.as_json(), ensure_ascii=False).encode("utf-8")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(raw):
    _check_reading(raw)


@st.composite
def mutated_emails(draw):
    raw = bytearray(draw(st.sampled_from(REALISTIC)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["insert_text", "insert_bytes", "delete", "replace_line"]))
        at = draw(st.integers(0, len(raw)))
        if op == "insert_text":
            text = draw(st.text(max_size=40))
            raw[at:at] = text.encode(
                draw(st.sampled_from(["utf-8", "gb18030", "utf-16-le"])), "replace"
            )
        elif op == "insert_bytes":
            raw[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif op == "delete":
            raw[at : at + draw(st.integers(1, 200))] = b""
        else:  # replace the line at `at` with random text (a header, a boundary, a body line)
            start = raw.rfind(b"\n", 0, at) + 1
            end = raw.find(b"\n", at)
            end = len(raw) if end < 0 else end
            raw[start:end] = draw(st.text(max_size=60)).encode("utf-8", "surrogatepass")
    return bytes(raw)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_emails())
def test_mutated_realistic_emails_never_raise(raw):
    _check_reading(raw)


# Minimal forms of what the mutations above have found: odd bytes in a header that a client or
# a relay can produce. Each must read as an email (or NotAnEmail), never raise.
MALFORMED = {
    "nul-in-encoded-word-charset": b"Subject: =?\x00?B?QQ==?=\r\n\r\nx\r\n",
    "8bit-in-encoded-word-charset": b"Subject: =?\x80?B?5L2g?=\r\n\r\nx\r\n",
    "nul-in-body-charset": b'Content-Type: text/plain; charset="a\x00"\r\n\r\n\xe4\xbd\xa0\r\n',
    "bad-base64-in-from-name": b"From: =?gb2312?B?cW8rw==?= <a@b.cn>\r\n\r\nx\r\n",
    "nul-in-rfc2231-filename-charset": b"Content-Type: text/plain; name*=\x00''a.txt\r\n\r\nx\r\n",
}


@pytest.mark.parametrize("raw", list(MALFORMED.values()), ids=list(MALFORMED))
def test_malformed_headers_never_raise(raw):
    _check_reading(raw)


# --------------------------------------------------------------------------------------------
# 2. A 1 MB body on a single line is read in bounded time (a guard against regex backtracking)

LONG = 1_000_000
SHAPES = {
    "dashes": "-" * LONG,
    "operator_labels": ("运营商：" * (LONG // 4 + 1))[:LONG],
    "stop_code_list": "停止原因：" + ("1、" * LONG)[: LONG - 5],
    "colons": ":" * LONG,
    "quote_marks": ">" * LONG,
    "spaces": " " * LONG,
    "open_parens": "(" * LONG,
}


def _long_line_email(body: str, form: str) -> bytes:
    if form == "plain":
        return (
            (
                HEADERS + "Content-Type: text/plain; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n"
            ).encode()
            + body.encode("utf-8")
            + b"\r\n"
        )
    if form == "html":  # QQ-style HTML-only mail: the line inside one <div>
        return (
            (
                HEADERS + "Content-Type: text/html; charset=utf-8\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n"
            ).encode()
            + b"<div>"
            + body.encode("utf-8")
            + b"</div>\r\n"
        )
    # a forward: the line is in the forwarded part, read as history and for stop codes
    headers = HEADERS.replace("Subject: =?utf-8?B?5YWF55S15qGp5byC5bi4?=", "Subject: Fwd: test")
    return (
        (
            headers
            + "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            "请处理\r\n-----原始邮件-----\r\n"
        ).encode()
        + body.encode("utf-8")
        + b"\r\n"
    )


@pytest.mark.parametrize("form", ["plain", "html", "forwarded"])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_one_megabyte_line_is_read_in_bounded_time(shape, form):
    raw = _long_line_email(SHAPES[shape], form)
    start = time.perf_counter()
    read_ticket(raw)
    elapsed = time.perf_counter() - start
    assert elapsed < 5.0, f"{shape} ({form}): {elapsed:.1f} s for a 1 MB line"


# --------------------------------------------------------------------------------------------
# 3. Every label, colon and parenthesis form gives the same field

FIELDS = tomllib.loads(resources.files("ingest").joinpath("data/fields.toml").read_text("utf-8"))
STATUS_OPTIONS = FIELDS["status"]["options"]
STATUS_MARKS = FIELDS["status"]["marks"]
LABELS = [
    (f["key"], f["kind"], label, f.get("heading", False))
    for f in FIELDS["field"]
    for label in f["labels"]
]
# Opened by their `---label` heading only (SPEC §13's ---答复): `label：` is no field there.
HEADING_ONLY = {f["key"] for f in FIELDS["field"] if f.get("heading_only")}
_NOTE = re.compile(r"[(（]([^)）]*)[)）]")

SPACE = st.sampled_from(["", " ", "  ", "\t", "\u3000", " \u3000"])
VALUE = (
    st.text(
        alphabet=st.one_of(
            st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
            st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 "),
        ),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)


def _label_variant(label: str, note_style: str) -> str:
    """`订单号(必填)` as written with ASCII parentheses, full-width ones, or without its note."""
    if note_style == "omitted":
        return _NOTE.sub("", label)
    open_, close = ("(", ")") if note_style == "ascii" else ("（", "）")
    return _NOTE.sub(lambda m: f"{open_}{m.group(1)}{close}", label)


@st.composite
def labelled(draw, label: str):
    """`LABEL<colon>` in one of its forms: note in ASCII or full-width parentheses, another note,
    no note; ASCII or full-width colon; spaces (U+3000 too) before and after the colon."""
    note_style = draw(
        st.sampled_from(["ascii", "fullwidth", "omitted", "other"])
        if _NOTE.search(label)
        else st.just("none")
    )
    if note_style == "other":  # fields.toml: any note matches, e.g. 状态(√表示选定 )
        note = draw(st.text(alphabet=st.sampled_from("√☑表示选定必填跟单 abc12"), max_size=12))
        label = _NOTE.sub(lambda m: f"({note})", label)
        note_style = draw(st.sampled_from(["ascii", "fullwidth"]))
    colon = draw(st.sampled_from([":", "："]))
    before, after = draw(SPACE), draw(SPACE)
    return f"{_label_variant(label, note_style)}{before}{colon}{after}"


@pytest.mark.parametrize(
    "key,kind,label,heading", LABELS, ids=[f"{k}-{label}" for k, _, label, _ in LABELS]
)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_every_label_form_gives_the_field(key, kind, label, heading, data):
    head = data.draw(labelled(label), label="label")
    if kind == "choice":
        options = list(STATUS_OPTIONS)
        chosen = data.draw(st.sampled_from(options), label="chosen")
        mark = data.draw(st.sampled_from(STATUS_MARKS), label="mark")
        gap = data.draw(SPACE, label="gap")
        sep = data.draw(st.sampled_from([" | ", "|", "  ", " ｜ "]), label="sep")
        line = sep.join(f"{mark}{gap}{o}" if o == chosen else o for o in options)
        assert extract_fields(head + line) == {key: STATUS_OPTIONS[chosen]}, head + line
        return
    value = data.draw(VALUE, label="value")
    if key in ("order_no", "pile_no", "phone") and value[0].isdigit():
        # SPEC §3a: a number followed by Chinese words is stored as the number alone; that rule
        # has its own tests (test_fields, test_completeness). Here the value is kept whole.
        value = "编" + value
    text = head + value
    if key in HEADING_ONLY:
        assert key not in extract_fields(text), text
        dashes = "-" * data.draw(st.integers(1, 5), label="dashes")
        colon = data.draw(st.sampled_from(["", ":", "："]), label="heading colon")
        text = f"{dashes}{label}{colon}\n{value}"
        assert extract_fields(text) == {key: value}, text
        return
    assert extract_fields(text) == {key: value}, text
    if kind == "block":
        more = data.draw(st.lists(VALUE, min_size=1, max_size=4), label="more lines")
        on_label_line = data.draw(st.booleans(), label="value starts on the label's line")
        lines = [value, *more]
        text = head + "\n".join(lines) if on_label_line else head + "\n" + "\n".join(lines)
        assert extract_fields(text) == {key: "\n".join(lines)}, text
        # A following label at a line start ends the block.
        assert extract_fields(text + "\n运营商：展鹏达") == {
            key: "\n".join(lines),
            "operator": "展鹏达",
        }, text
        if heading:  # `---跟踪` heading form, any number of dashes, optional colon
            dashes = "-" * data.draw(st.integers(1, 5), label="dashes")
            colon = data.draw(st.sampled_from(["", ":", "："]), label="heading colon")
            text = f"{dashes}{label}{colon}\n" + "\n".join(lines)
            assert extract_fields(text) == {key: "\n".join(lines)}, text
