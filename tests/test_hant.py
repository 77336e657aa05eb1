"""Traditional forms of labels and markers come from OpenCC's data (SPEC §3a)."""

import json
from importlib import resources

from ingest.reading import hant, hant_words


def shipped() -> dict:
    return json.loads(resources.files("ingest").joinpath(hant.DATA).read_text("utf-8"))


def test_the_shipped_forms_are_what_opencc_gives_for_every_word_the_reader_uses():
    table = shipped()
    used = hant_words.used_words()
    assert set(used) == set(table), (
        "ingest/data/traditional_forms.json is stale: run `python -m ingest.reading.hant_words`"
    )
    for word in used:
        assert tuple(table[word]) == hant.opencc_forms(word), word


def test_every_conversion_counts_not_only_s2t():
    assert hant.forms("联系电话") == ("联系电话", "聯繫電話", "聯絡電話")  # s2twp: 聯絡
    assert "使用者手機號" in hant.forms("用户手机号")  # s2twp
    assert "用户手機號" in hant.forms("用户手机号")  # s2hk keeps 户


def test_a_word_missing_from_the_shipped_table_is_converted_with_opencc():
    assert hant.forms("充电桩坏了") == ("充电桩坏了", "充電樁壞了")
    assert "充电桩坏了" in hant.converted
