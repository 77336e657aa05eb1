"""The ticket in a .docx or .xlsx attachment (SPEC §3b), and the bounds of reading one (SPEC §9):
real files made with python-docx and openpyxl, and hostile archives made with zipfile."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from email.message import EmailMessage

import pytest
from click.testing import CliRunner

from ingest.cli.main import cli
from ingest.reading.ticket import read_mail

docx = pytest.importorskip("docx")
openpyxl = pytest.importorskip("openpyxl")

DOCX_TYPE = "vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX_TYPE = "vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What the Word ticket below holds, worked out by hand from SPEC §3, §3a and §3b: paragraphs are
# lines, a label cell takes the next cell as its value, full-width colons and notes match.
DOCX_FIELDS = {
    "operator": "万科新能源",
    "station": "万科云城站",
    "phone": "13800138000",
    "order_no": "20261123194510123456",
    "pile_no": "32010600123456",
    "description": "会员卡刷卡后无法启动充电，停止原因：34",
    "operator_findings": "已重启充电桩，故障依旧",
}
XLSX_FIELDS = {
    "operator": "星桥充电",
    "station": "南山科技园站",
    "order_no": "20261124081644614873",
    "description": "扫码后无法启动",
    "operator_findings": "已重启",
}


def word_ticket() -> bytes:
    document = docx.Document()
    document.add_paragraph("充电故障工单")
    document.add_paragraph("运营商：万科新能源")
    document.add_paragraph("问题描述：会员卡刷卡后无法启动充电，停止原因：34")
    table = document.add_table(rows=4, cols=2)
    rows = [
        ("桩站名称", "万科云城站"),
        ("手机号", "13800138000"),
        ("订单号（必填）", "20261123194510123456"),
        ("充电桩号", "32010600123456"),
    ]
    for row, (label, value) in zip(table.rows, rows, strict=True):
        row.cells[0].text, row.cells[1].text = label, value
    document.add_paragraph("运营商初步排查结果：已重启充电桩，故障依旧")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def excel_ticket(extra_rows: int = 0) -> bytes:
    """A header row of labels over a row of values, as a team exports from Excel."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["运营商", "桩站名称", "问题描述", "运营商初步排查结果", "订单号"])
    sheet.append(["星桥充电", "南山科技园站", "扫码后无法启动", "已重启", "20261124081644614873"])
    for n in range(extra_rows):
        sheet.append([f"记录{n}", n])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def mail_with(
    name: str, data: bytes, subtype: str = DOCX_TYPE, text: str = "工单见附件。"
) -> bytes:
    message = EmailMessage()
    message["From"] = "ops@wanke.example.cn"
    message["To"] = "support@gongdan.example.cn"
    message["Subject"] = "充电桩故障"
    message["Message-ID"] = "<office.1@wanke.example.cn>"
    message["Date"] = "Mon, 23 Nov 2026 20:00:00 +0800"
    message.set_content(text)
    message.add_attachment(data, maintype="application", subtype=subtype, filename=name)
    return bytes(message)


def parse(tmp_path, raw: bytes, name: str = "mail.eml") -> dict:
    path = tmp_path / name
    path.write_bytes(raw)
    result = CliRunner().invoke(cli, ["parse", "--json", str(path)], env={"GONGDAN_CONFIG": None})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.splitlines()[0])


def zipped(members: dict[str, bytes], declared: dict[str, int] | None = None) -> bytes:
    """An archive of `members`; `declared` overrides the sizes its directory states."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    data = out.getvalue()
    for name, size in (declared or {}).items():
        # The central directory's entry: uncompressed size at +24, the name at +46.
        at = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02"))
        while data[at + 46 : at + 46 + len(name.encode())] != name.encode():
            at = data.index(b"PK\x01\x02", at + 4)
        data = data[: at + 24] + size.to_bytes(4, "little") + data[at + 28 :]
    return data


WORD_XML = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
    "<w:body>{}</w:body></w:document>"
)


def word_xml(*paragraphs: str) -> bytes:
    body = "".join(f"<w:p><w:r><w:t>{p}</w:t></w:r></w:p>" for p in paragraphs)
    return WORD_XML.format(body).encode()


# The positive controls --------------------------------------------------------------------------


def test_a_word_ticket_is_read_from_the_attachment_through_parse(tmp_path):
    got = parse(tmp_path, mail_with("充电工单.docx", word_ticket()))
    assert got["fields"] == DOCX_FIELDS
    assert got["template"] == "detailed" and got["complete"] and got["action"] == "ack"
    assert "attachment 充电工单.docx read as the ticket" in got["warnings"]
    assert [c["code"] for c in got["stop_codes"]] == [34]
    assert got["attachments"] == ["充电工单.docx"]


def test_an_excel_ticket_is_read_from_the_attachment_through_parse(tmp_path):
    got = parse(tmp_path, mail_with("工单.xlsx", excel_ticket(), XLSX_TYPE))
    assert got["fields"] == XLSX_FIELDS
    assert got["template"] == "detailed" and got["complete"] and got["action"] == "ack"
    assert "attachment 工单.xlsx read as the ticket" in got["warnings"]


def test_the_mail_text_wins_over_an_attachment(tmp_path):
    raw = mail_with("工单.docx", word_ticket(), text="运营商：星桥充电\n问题描述：3号桩充不上电\n")
    got = parse(tmp_path, raw)
    assert got["fields"] == {"operator": "星桥充电", "description": "3号桩充不上电"}
    assert not any("attachment" in w for w in got["warnings"])


def test_an_attachment_without_labels_is_no_ticket(tmp_path):
    document = docx.Document()
    document.add_paragraph("会议纪要：本周巡检计划")
    out = io.BytesIO()
    document.save(out)
    got = parse(tmp_path, mail_with("纪要.docx", out.getvalue()))
    assert got["fields"] == {} and got["action"] == "request_info"
    assert got["warnings"] == []


def test_a_word_ticket_reads_alike_every_time():
    """Read twice in one process (the readers imported and cached the second time): the same
    fields. Its speed is measured by tests/bench/bench_office.py, not here."""
    raw = mail_with("工单.docx", word_ticket())
    assert read_mail(raw).reading.fields == DOCX_FIELDS
    assert read_mail(raw).reading.fields == DOCX_FIELDS


def test_the_ack_of_a_polled_word_ticket_lists_its_fields(desk):
    desk.poll(mail_with("充电工单.docx", word_ticket()))
    [ticket] = desk.tickets()
    assert ticket["operator"] == "万科新能源"
    [ack] = desk.replies()
    text = ack.get_content()
    assert "我们已收到贵司的工单" in text
    for value in ("万科新能源", "万科云城站", "20261123194510123456", "32010600123456"):
        assert value in text
    assert "138****8000" in text and "13800138000" not in text


# The attacker's archives: each gives a warning, never a crash, a stall or a memory spike --------


def warnings_of(raw: bytes) -> tuple[dict, list[str]]:
    """The fields and warnings of `raw`, read within the reader's own time limit (a stall would
    give no reading at all, only the limit's error) and under 64 MB at the peak."""
    result = read_mail(raw)
    assert result.reading is not None, result.error
    tracemalloc.start()
    try:
        read_mail(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MB"
    return result.reading.fields, result.reading.assessment.warnings


def test_a_zip_bomb_is_refused_by_its_declared_size():
    bomb = zipped({"word/document.xml": word_xml("运营商：甲") + b" " * (30 * 2**20)})
    assert len(bomb) < 100_000
    fields, warnings = warnings_of(mail_with("bomb.docx", bomb))
    assert fields == {}
    assert warnings == ["attachment bomb.docx not read: over 20 MB when unpacked"]


def test_a_zip_bomb_that_lies_about_its_size_is_cut_while_inflating():
    body = word_xml("运营商：甲") + b" " * (30 * 2**20)
    bomb = zipped({"word/document.xml": body}, declared={"word/document.xml": 1000})
    fields, warnings = warnings_of(mail_with("liar.docx", bomb))
    assert fields == {}
    assert len(warnings) == 1 and warnings[0].startswith("attachment liar.docx not read")


def test_entity_expansion_is_refused():
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY a "' + b"x" * 100 + b'">'
        + b"".join(
            f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode()
            for i in range(8)
        )
        + b']><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        + "<w:body><w:p><w:r><w:t>运营商：&i;</w:t></w:r></w:p></w:body></w:document>".encode()
    )  # fmt: skip
    fields, warnings = warnings_of(mail_with("laughs.docx", zipped({"word/document.xml": laughs})))
    assert fields == {}
    assert warnings == [
        "attachment laughs.docx not read: the XML declares a DTD or entities; not read"
    ]


def test_an_external_entity_reads_no_local_file(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("运营商：泄露", "utf-8")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>"
    ).encode()
    fields, warnings = warnings_of(mail_with("xxe.docx", zipped({"word/document.xml": xxe})))
    assert fields == {} and "泄露" not in json.dumps(warnings, ensure_ascii=False)


def test_paths_that_climb_out_of_the_archive_are_never_read(tmp_path):
    # A worksheet only under its own name is read; `../` names are neither opened nor written.
    members = {
        "../../evil.xml": b"<x/>",
        "xl/worksheets/../../../sheet1.xml": b"<x/>",
        "xl/worksheets/sheet1.xml": (
            b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            b'<sheetData><row><c t="inlineStr"><is><t>\xe8\xbf\x90\xe8\x90\xa5\xe5\x95\x86</t>'
            b'</is></c><c t="inlineStr"><is><t>A</t></is></c></row></sheetData></worksheet>'
        ),
    }
    before = set(tmp_path.parent.iterdir())
    fields, warnings = warnings_of(mail_with("paths.xlsx", zipped(members), XLSX_TYPE))
    assert fields == {"operator": "A"}
    assert warnings == ["attachment paths.xlsx read as the ticket"]
    assert set(tmp_path.parent.iterdir()) == before


SHEET_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def shared_string_book(strings: list[str], before: int, after: int) -> bytes:
    """A label row over a value row whose cells are shared strings (Excel's own way of storing
    text) kept after `before` others and followed by `after` more."""
    used = "".join(f"<si><t>{text}</t></si>" for text in strings)
    filler = ["".join(f"<si><t>{'填' * 40}{n}</t></si>" for n in range(k)) for k in (before, after)]
    half = len(strings) // 2
    rows = "".join(
        f'<row r="{r + 1}">'
        + "".join(f'<c t="s"><v>{before + r * half + i}</v></c>' for i in range(half))
        + "</row>"
        for r in range(2)
    )
    return zipped(
        {
            "xl/worksheets/sheet1.xml": (
                f'<worksheet xmlns="{SHEET_NS}"><sheetData>{rows}</sheetData></worksheet>'
            ).encode(),
            "xl/sharedStrings.xml": (
                f'<sst xmlns="{SHEET_NS}">{filler[0]}{used}{filler[1]}</sst>'
            ).encode(),
        }
    )


LABELS = ["运营商", "桩站名称", "问题描述", "运营商初步排查结果", "订单号"]
VALUES = [XLSX_FIELDS[k] for k in ("operator", "station", "description", "operator_findings")]


def test_a_huge_shared_strings_table_keeps_only_the_strings_used():
    book = shared_string_book(LABELS + VALUES + [XLSX_FIELDS["order_no"]], 30_000, 100_000)
    assert len(book) < 2 * 2**20
    fields, warnings = warnings_of(mail_with("big.xlsx", book, XLSX_TYPE))
    assert fields == XLSX_FIELDS
    assert warnings == ["attachment big.xlsx read as the ticket"]


def test_shared_strings_past_the_cap_read_as_empty():
    book = shared_string_book(LABELS + VALUES + [XLSX_FIELDS["order_no"]], 60_000, 0)
    fields, warnings = warnings_of(mail_with("far.xlsx", book, XLSX_TYPE))
    assert fields == {}
    assert warnings == []  # no label was read, so the file is no ticket


def test_a_10000_row_sheet_is_read_up_to_its_cap():
    fields, warnings = warnings_of(mail_with("rows.xlsx", excel_ticket(10_000), XLSX_TYPE))
    assert fields == XLSX_FIELDS  # the ticket at the top is still read
    assert warnings == [
        "attachment rows.xlsx read as the ticket",
        "attachment rows.xlsx: only the first 1000 rows read",
    ]


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 4000, "encrypted or an old Office format"),
        (b"PK\x03\x04 truncated", "not a valid zip file"),
        (zipped({"word/other.xml": b"<x/>"}), "no word/document.xml inside"),
        (zipped({"word/document.xml": b"<w:document><w:body>"}), "broken XML"),
    ],
    ids=["encrypted", "truncated", "no-document", "broken-xml"],
)
def test_an_unreadable_attachment_is_a_warning(data, reason):
    fields, warnings = warnings_of(mail_with("工单.docx", data))
    assert fields == {}
    [warning] = warnings
    assert warning.startswith(f"attachment 工单.docx not read: {reason}")


def test_a_password_protected_zip_member_is_a_warning():
    data = bytearray(zipped({"word/document.xml": word_xml("运营商：甲")}))
    data[6] |= 0x1  # the encrypted flag, in the local header
    at = data.index(b"PK\x01\x02")
    data[at + 8] |= 0x1  # and in the central directory
    fields, warnings = warnings_of(mail_with("locked.docx", bytes(data)))
    assert fields == {}
    assert warnings[0].startswith("attachment locked.docx not read: encrypted")


def test_a_bad_attachment_does_not_hide_a_good_one():
    message = EmailMessage()
    message["From"] = "ops@wanke.example.cn"
    message["Subject"] = "充电桩故障"
    message.set_content("见附件")
    for name, data in (
        ("坏.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),
        ("好.docx", word_ticket()),
    ):
        message.add_attachment(data, maintype="application", subtype=DOCX_TYPE, filename=name)
    fields, warnings = warnings_of(bytes(message))
    assert fields == DOCX_FIELDS
    assert warnings == [
        "attachment 坏.docx not read: encrypted or an old Office format, not a zip file",
        "attachment 好.docx read as the ticket",
    ]
