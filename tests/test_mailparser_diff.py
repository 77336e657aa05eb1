"""Our reader against mail-parser, the reference SPEC §1 names: subject, sender address and
attachment file names of every email in the shared corpora and in tests/fixtures.

Where the two differ, the case is listed in KNOWN with our value and why ours is the right text;
every other email must read the same through both. A known difference that mail-parser no
longer shows fails too, so the list stays true. Addresses compare case-insensitively: the reader
lower-cases them (a desk matches senders, and domains have no case).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.reading.ticket import read_ticket

mailparser = pytest.importorskip("mailparser", reason="mail-parser is in the test extra")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
CORPORA = Path(__file__).resolve().parents[2] / "shared" / "corpora"

GB = "labelled GB2312 (or 8-bit with no charset) but written in GBK, as Foxmail and Outlook do"
RAISES = "mail-parser raises on it; ours reads the rest of the mail"

# name (relative to its corpus folder): {what: (our value, why ours is right)}
KNOWN: dict[str, dict[str, tuple]] = {
    "rt-emails/8859-15-message-series_dir": {
        "attachments": (
            ["test _________"] * 7,
            "seven message/rfc822 parts named by Content-Type name= without a "
            "Content-Disposition: ours lists a part that has a file name, mail-parser only parts "
            "with a disposition",
        ),
    },
    "rt-emails/outlook-rfc822": {
        "attachments": (
            [],
            "a forwarded message attached without a name: ours reads its text as the forward "
            "(fields and stop codes), mail-parser lists it under a made-up random .txt name",
        ),
    },
    "emails/69_fw_as_attachment_rfc822.eml": {
        "attachments": ([], "as rt-emails/outlook-rfc822: a nameless forwarded message"),
    },
    "rt-emails/russian-subject-no-content-type": {
        "subject": (
            "тест тест",
            "raw 8-bit KOI8-R in the header and no charset anywhere: ours decodes it (RT asserts "
            "this text), mail-parser gives an empty subject",
        ),
    },
    "emails/01_foxmail_gb2312_gbk_chars.eml": {"subject": ("喆鑫能源-桩站不显示", GB)},
    "emails/04_gbk_8bit_no_charset.eml": {"subject": ("充电桩无法启动", GB)},
    "emails/12_outlook_reply_qp_gbk.eml": {"subject": ("答复: 镕城站APP登录问题 [工单#120]", GB)},
    "emails/h03_raw_gb2312_attachment_name.eml": {
        "attachments": (
            ["桩站清单.xls"],
            "a file name in raw GB2312 bytes (SPEC §3a): ours decodes it in the mail's charset, "
            "mail-parser shows replacement characters",
        ),
    },
    "emails/h04_raw_shift_jis_subject.eml": {
        "subject": (
            "お問い合わせ：ステーションの件",
            "a raw Shift_JIS subject (SPEC §3a): ours recognises the Japanese charset, "
            "mail-parser reads it as Latin-1",
        ),
    },
    "emails/h06_subject_folded_without_whitespace.eml": {
        "subject": (
            "桩站离线问题反馈",
            "a subject folded without leading whitespace (SPEC §3a): ours joins the line to "
            "the header above, mail-parser ends the subject at the fold",
        ),
        "from": ("li@ops.example.cn", "the From after that fold, lost by mail-parser with it"),
    },
    "emails/h07_stray_line_above_headers.eml": {
        "subject": (
            "平台数据不同步",
            "a stray line above the headers (SPEC §3a): ours drops it and reads the headers, "
            "mail-parser reads no header at all",
        ),
        "from": ("zhao@ops.example.cn", "as its subject: mail-parser reads no header"),
    },
    "emails/89_two_from_headers.eml": {
        "from": (
            "ops@minneng.cn",
            "two From headers, the first `[??????]` (SPEC §3b): ours reads them as one From list "
            "and takes the first entry with an address, mail-parser the first header's nothing",
        ),
    },
    "emails/72_x_gbk_label.eml": {
        "subject": ("报表乱码", "charset x-gbk (an alias Python lacks): ours reads it as GBK")
    },
    "fuzz/8bit-byte-in-address.eml": {
        "from": (
            "\ufffdops@example.cn",
            "a raw 8-bit byte inside the address: ours keeps the address, the byte shown as "
            "U+FFFD, so people still see who wrote; mail-parser drops the whole address",
        ),
    },
    "fuzz/8bit-in-encoded-word-charset.eml": {
        "subject": (
            "你",
            "an encoded word whose charset name is a raw byte: ours decodes its UTF-8 text, "
            "mail-parser leaves the encoded word as it is",
        ),
    },
    "fuzz/8bit-inside-encoded-word.eml": {
        "subject": ("充电桩异常", "a raw byte inside an encoded word's markers: as above"),
    },
    "fuzz/bad-base64-in-from-name.eml": {
        "subject": ("", RAISES),
        "from": ("a@b.cn", RAISES + " (a broken encoded word in the display name)"),
        "attachments": ([], RAISES),
    },
    **{
        f"fuzz/nul-in-{where}-charset.eml": {
            "subject": (subject, RAISES + " (a NUL in a charset name)"),
            "from": ("", RAISES),
            "attachments": (attachments, RAISES),
        }
        for where, subject, attachments in (
            ("body", "", []),
            ("encoded-word", "A", []),
            ("rfc2231-filename", "", ["a.txt"]),
        )
    },
}


def _emails() -> list:
    found = [(f"{p.parent.name}/{p.name}", p) for p in sorted(FIXTURES.rglob("*.eml"))]
    if CORPORA.is_dir():
        found += [
            (str(p.relative_to(CORPORA)), p)
            for p in sorted(CORPORA.rglob("*"))
            if p.is_file() and p.name != "README.md"
        ]
    return found


EMAILS = _emails()
NAMES = {name for name, _ in EMAILS}
NO_CORPORA = pytest.mark.skipif(
    not CORPORA.is_dir(),
    reason=f"shared corpora not found at {CORPORA} (shared data outside the repository)",
)


def ours(raw: bytes) -> dict:
    mail = read_ticket(raw).mail
    return {"subject": mail.subject, "from": mail.from_address, "attachments": mail.attachments}


def theirs(raw: bytes) -> dict | Exception:
    try:
        mail = mailparser.parse_from_bytes(raw)
    except Exception as exc:
        return exc
    return {
        "subject": mail.subject,
        "from": mail.from_[0][1].lower() if mail.from_ else "",
        "attachments": [attachment["filename"] for attachment in mail.attachments],
    }


def test_every_known_fixture_difference_names_a_fixture():
    assert [n for n in KNOWN if (FIXTURES / n).parent.is_dir() and n not in NAMES] == []


@NO_CORPORA
def test_every_known_difference_names_an_email():
    assert sorted(set(KNOWN) - NAMES) == []


@pytest.mark.parametrize("name, path", EMAILS, ids=[name for name, _ in EMAILS])
def test_reads_as_mail_parser_does(name, path):
    raw = path.read_bytes()
    mine, reference = ours(raw), theirs(raw)
    known = KNOWN.get(name, {})
    for what, value in mine.items():
        if what in known:
            expected, why = known[what]
            assert value == expected, f"{name} {what}: ours changed ({why})"
            if isinstance(reference, dict):
                assert reference[what] != value, f"{name} {what}: mail-parser agrees now: unlist it"
            continue
        assert not isinstance(reference, Exception), f"{name}: mail-parser raised {reference!r}"
        theirs_ = reference[what]
        assert value == theirs_, f"{name} {what}: ours {value!r}, mail-parser's {theirs_!r}"
