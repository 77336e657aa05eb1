"""Stop codes: the shipped 盛弘 table against the wiki, triggers, vendors (SPEC §5)."""

import re

import pytest

from ingest.reading.stopcodes import find_codes, load_table, stop_codes_in, vendors


def test_shipped_table_is_the_wikis_table(seed_text):
    rows = seed_text[seed_text.index("== 盛弘桩端停止代号 ==") :]
    expected = {}
    for row in re.findall(r"^\|([^|]+)\|([^|]+)\|([^|]*)$", rows, re.M):
        codes, meaning, note = (part.strip() for part in row)
        if "至" in codes:
            low, high = (int(n) for n in codes.split("至"))
            numbers = range(low, high + 1)
        else:
            numbers = [int(n) for n in codes.split("、")]
        for n in numbers:
            expected[n] = (meaning, note.strip("()"))
    table = vendors()["sinexcel"]
    assert {c: (e.meaning, e.note) for c, e in table.codes.items()} == expected
    assert len(expected) == 65  # 0, 2-63, 98 and 99: the wiki has no code 1


def test_ranges_cover_every_code_and_notes_are_kept():
    table = vendors()["sinexcel"]
    assert all(table.codes[c].meaning == "终止充放故障" for c in range(18, 29))
    assert table.codes[38].note == "BO发现?"
    assert table.lookup(64) == {
        "vendor": "sinexcel",
        "code": 64,
        "meaning": "未知代号",
        "known": False,
    }


@pytest.mark.parametrize(
    "text,codes",
    [
        ("停止原因：34（紧急停机）", [34]),
        ("停止原因不明，34号桩", []),
        ("桩端停止代号为 2、34 和 99", [2, 34, 99]),
        ("停止代码: 5,6/7", [5, 6, 7]),
        ("停止码是34 ， 35", [34, 35]),
        ("停机原因 : 77", [77]),
        ("Stop Code: 12 and more", [12]),
        ("stop reason 48", [48]),
        ("停止原因：34，35号桩也停了", [34]),
        ("停止原因：34。另外停止原因：2、34", [34, 2]),
        ("停止原因：2019年", []),
        ("停止原因 20190830211644614873", []),
        ("停止原因：3.5kW", []),
    ],
)
def test_codes_follow_a_trigger_only(text, codes):
    assert find_codes(text) == codes


def test_vendor_named_in_text_or_default():
    assert stop_codes_in("Sinexcel 桩，停止原因：34")[0]["vendor"] == "sinexcel"
    assert stop_codes_in("停止原因：34", default_vendor="other")[0] == {
        "vendor": "other",
        "code": 34,
        "meaning": "未知代号",
        "known": False,
    }


def test_another_vendor_is_one_more_toml_file(tmp_path):
    (tmp_path / "acme.toml").write_text(
        'vendor = "acme"\nname = "艾克姆"\naliases = ["ACME"]\n'
        '[[code]]\ncodes = [34]\nmeaning = "门打开"\n',
        "utf-8",
    )
    hits = stop_codes_in("艾克姆桩 停止原因：34、2", extra_dir=str(tmp_path))
    assert hits == [
        {"vendor": "acme", "code": 34, "meaning": "门打开", "known": True},
        {"vendor": "acme", "code": 2, "meaning": "未知代号", "known": False},
    ]
    assert "sinexcel" in vendors(str(tmp_path))


def test_load_table_expands_ranges():
    table = load_table('vendor = "v"\n[[code]]\nfrom = 1\nto = 3\nmeaning = "m"\n')
    assert sorted(table.codes) == [1, 2, 3]
