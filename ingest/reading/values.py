"""Tidy a field's value as written: trailing punctuation, full-width digits, remarks (SPEC §3a)."""

from __future__ import annotations

import re
from functools import cache

# Every Unicode whitespace character but the newline: U+00A0 (`&nbsp;`), U+3000 and the rest are
# spaces around labels, colons and values (SPEC §3b). SPACE is the pattern of one.
SPACES = "".join(filter(str.isspace, map(chr, range(0x3001)))).replace("\n", "")
SPACE = r"[^\S\n]"

# Fields that hold a number: stored with ASCII digits, a remark after the number dropped.
NUMBER_KEYS = ("order_no", "pile_no", "phone")

_TRAILING = "；;，,。、" + SPACES
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


# Compiled on first use, not at import: the patterns of many modules import SPACE alone.
@cache
def _remark() -> re.Pattern:
    """A number (digits, spaces, the dashes, pluses and masks of phone numbers), then a remark: a
    parenthesised note or Chinese words (`…（已补充）`, `… 已更正`), then only punctuation."""
    return re.compile(
        rf"^(?P<number>[+＋]?[0-9][0-9 \-xX*×]*?[0-9xX*×]){SPACE}*"
        rf"(?:[(（][^()（）]*[)）]|[\u3400-\u9fff](?:[\u3400-\u9fff]|{SPACE})*)"
        rf"(?:[；;，,。、.!！]|{SPACE})*$"
    )


@cache
def _trailing_mark() -> re.Pattern:
    """A list number or bullet left at the end of a value, before the next label on its line
    (`运营商：A 2、桩站名称：B`)."""
    return re.compile(
        rf"{SPACE}+(?:[-*•·●▪]|\d{{1,2}}[.、)）．]|[(（]\d{{1,2}}[)）]|[\u2460-\u2473]){SPACE}*$"
    )


def ascii_digits(text: str) -> str:
    return text.translate(_FULL_WIDTH_DIGITS)


def strip_line_value(value: str, before_label: bool = False) -> str:
    """A line value without its trailing punctuation (and list mark before a next label)."""
    if before_label:
        value = _trailing_mark().sub("", value)
    return value.rstrip(_TRAILING)


def tidy_number(value: str) -> str:
    """`２０２６…（已补充）` -> `2026…`: ASCII digits, and the number alone when a remark follows.

    Two numbers (`…、…`) or dashes inside stay as written, for validation to reject.
    """
    value = ascii_digits(value)
    match = _remark().match(value)
    return match["number"] if match else value
