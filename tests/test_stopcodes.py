"""Stop codes: the shipped 盛弘 table against the wiki, triggers, vendors (SPEC §5)."""

import re

import pytest

from ingest.reading.stopcodes import (
    brands_without_table,
    find_codes,
    load_table,
    stop_codes_in,
    vendors,
)


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
        # SPEC §5 (2026-11-29): 代号/代码/码/编号 after the trigger, `，`, any case, one line.
        ("停止原因代号为47", [47]),
        ("停机原因代码：12", [12]),
        ("停止原因编号是 7，8", [7, 8]),
        ("停止码：5 ， 6", [5, 6]),
        ("STOP CODE: 9", [9]),
        ("Stop Reason：11", [11]),
        ("停止原因：\n34", []),
        ("停止原因代号\n47", []),
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


def sc(vendor, code, meaning, known):
    return {"vendor": vendor, "code": code, "meaning": meaning, "known": known}


def test_a_brand_without_a_table_is_never_decoded_with_another_table():
    assert stop_codes_in("特来电桩 停止原因：41") == [sc("特来电", 41, None, False)]
    assert stop_codes_in("ABB 桩停止码 12") == [sc("ABB", 12, None, False)]
    # A Latin name counts only as a word: "abbreviation" names no brand.
    assert stop_codes_in("abbreviation 停止码 12") == [sc("sinexcel", 12, "电池管理异常", True)]


def test_the_brand_on_the_codes_own_line_decides_then_the_description():
    text = "特来电桩 停止原因：41\n另一台盛弘桩停止原因：41、34\n停止原因：2"
    assert stop_codes_in(text) == [
        sc("特来电", 41, None, False),
        sc("sinexcel", 41, "电表通讯异常", True),
        sc("sinexcel", 34, "紧急停机", True),
        sc("sinexcel", 2, "与车辆通信超时", True),  # no brand on its line, none described
    ]
    # On a line naming two brands, the one just before the code is its brand.
    assert stop_codes_in("盛弘桩正常，许继桩停止原因：5") == [sc("许继", 5, None, False)]
    # Without a brand on the line, the first brand of the description decides.
    assert stop_codes_in("停止原因：41", description="许继桩，隔壁盛弘桩正常") == [
        sc("许继", 41, None, False)
    ]
    # A brand elsewhere in the text (the operator 特来电 on another line) does not.
    assert stop_codes_in("运营商：特来电\n停止原因：41") == [
        sc("sinexcel", 41, "电表通讯异常", True)
    ]


def test_a_table_for_a_listed_brand_wins(tmp_path):
    (tmp_path / "teld.toml").write_text(
        'vendor = "teld"\nname = "特来电"\nnames = ["特来电", "TELD"]\n'
        '[[code]]\ncodes = [41]\nmeaning = "急停按下"\n',
        "utf-8",
    )
    assert stop_codes_in("TELD 停止原因：41", extra_dir=str(tmp_path)) == [
        sc("teld", 41, "急停按下", True)
    ]


def test_vendor_files_list_their_names_and_the_brand_list_has_no_table():
    tables = vendors()
    assert {"盛弘", "Sinexcel"} <= set(tables["sinexcel"].names)
    listed = brands_without_table()
    for brand in ("特来电", "星星充电", "许继", "科士达", "英可瑞", "优优绿能", "永联", "英飞源"):
        assert brand in listed
    for brand in ("国电南瑞", "万马", "易事特", "科华", "奥特迅", "ABB"):
        assert brand in listed
    named = {n.lower() for t in tables.values() for n in t.names}
    assert not any(n.lower() in named for names in listed.values() for n in names)
