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


# A number dialled from abroad: `+` or `00`, then a country code other than China's 86.
_FOREIGN = re.compile(r"^(?:\+|00)(?!86)[1-9]\d{5,14}$")


def _number(value: str) -> str:
    """`value` as digits for validation: spaces, hyphens and brackets between digit groups
    dropped, `＋` as `+` (SPEC §3b: `+86 138-0013-8000` is a mobile)."""
    return re.sub(r"[\s()（）-]", "", tidy_number(value)).replace("＋", "+")


def _mainland(number: str) -> list[str]:
    """`number` as written, and without a leading +86, 0086 or 86 (a landline's area code gets
    its 0 back: +86 571 8888 6666 is 0571-8888 6666)."""
    rest = re.sub(r"^(?:\+|00)?86", "", number)
    if rest == number:
        return [number]
    return [number, rest if rest.startswith(("1", "0")) else "0" + rest]


def holds_phone(text: str) -> bool:
    """Does free text hold a mobile or landline number (a signature's line, SPEC §3b)?"""
    return bool(_PHONE_IN_TEXT.search(text) or _LANDLINE_IN_TEXT.search(text))


def check_phone(value: str) -> str | None:
    """Why `value` is not a mobile, landline or masked number; None when it is one (a foreign
    number is none of them, but valid: see foreign_phone)."""
    number = _number(value)
    if _FOREIGN.fullmatch(number):
        return None
    for form in _mainland(number):
        if _MOBILE.fullmatch(form) or _LANDLINE.fullmatch(form):
            return None
        if _MASKED.fullmatch(form) and re.search(r"[xX*×]", form):
            return None
    return "not a mobile, landline or masked number"


def foreign_phone(value: str) -> bool:
    """A number with another country's code (`+66 81 234 5678`): kept, with a warning (SPEC §3b)."""
    return bool(_FOREIGN.fullmatch(_number(value)))


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
