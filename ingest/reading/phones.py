"""Phone numbers in tickets: which are valid, and how they are masked wherever people see them."""

from __future__ import annotations

import re

from ingest.reading.values import tidy_number

_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"(?:0\d{2,3})?[2-9]\d{6,7}(?:(?:转|-|ext\.?)\d{1,6})?|[48]00\d{7}", re.I)
_MASKED = re.compile(r"1[3-9]\d[\dxX*×]{3,8}")
# A mobile in free text, with or without +86, in ASCII or full-width digits (`\d` takes both),
# written whole or 3-4-4; never a run of digits inside a longer number (an order number).
_PHONE_IN_TEXT = re.compile(
    r"(?<!\d)((?:[+＋]?[8８][6６][ -]?)?[1１][3-9３-９]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)"
)
# A landline in free text: an area code (010, 021, 0571, …) set off by a hyphen, a space or
# brackets, then a 7-8 digit number (whole, or split 3-4 / 4-4). The separator or brackets are
# required: a bare run of digits may be an order or pile number, and is never touched.
_LANDLINE_IN_TEXT = re.compile(
    r"(?<![\dA-Za-z-])((?:[(（]0\d{2,3}[)）][ -]?|0\d{2,3}[ -])\d{3,4}[ -]?)(\d{4})(?![\d-])"
)


def check_phone(value: str) -> str | None:
    """Why `value` is not a mobile, landline or masked number; None when it is one."""
    number = re.sub(r"[\s\u3000()（）-]", "", tidy_number(value))
    number = re.sub(r"^(?:\+?86)(?=1[3-9])", "", number)
    if _MOBILE.fullmatch(number) or _LANDLINE.fullmatch(number):
        return None
    if _MASKED.fullmatch(number) and re.search(r"[xX*×]", number):
        return None
    return "not a mobile, landline or masked number"


def mask_phone(number: str) -> str:
    """135****8382 for a mobile; other numbers keep only their first 3 and last 2 digits."""
    if re.search(r"[xX*×]", number):
        return number.strip()  # already masked by the sender
    digits = re.sub(r"\D", "", number)
    if _MOBILE.fullmatch(digits[-11:] if len(digits) >= 11 else digits):
        digits = digits[-11:]
        return f"{digits[:3]}****{digits[7:]}"
    if len(digits) <= 5:
        return "*" * len(number)
    return digits[:3] + "*" * (len(digits) - 5) + digits[-2:]


def mask_phones_in_text(text: str) -> str:
    """Mask every mobile and landline number written out in free text: 135****8382,
    0571-6666****."""
    text = _PHONE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return _LANDLINE_IN_TEXT.sub(lambda m: f"{m.group(1)}****", text)
