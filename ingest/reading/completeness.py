"""Decide a ticket's template, what it lacks, and whether its values are valid (SPEC §4)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from ingest.reading.fields import catalog
from ingest.reading.values import tidy_number

DETAILED_KEYS = (
    "station",
    "phone",
    "order_no",
    "pile_no",
    "network_status",
    "recent_faults",
    "abnormal_bill",
    "abnormal_status",
)
SIMPLE_KEYS = ("operator", "description", "operator_findings")
DEFAULT_REQUIRED = {
    "simple": ("operator", "description", "operator_findings"),
    "none": ("operator", "description", "operator_findings"),
    "detailed": ("operator", "order_no", "description", "operator_findings"),
}
DEFAULT_BILLING_WORDS = (
    "充电",
    "账单",
    "订单",
    "扣费",
    "计费",
    "电量",
    "退款",
    "费用",
    "金额",
    "余额",
    "停止",
    "充不上",
)

_SPACES = re.compile(r"[\s\u3000]+")
_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"(?:0\d{2,3})?[2-9]\d{6,7}(?:(?:转|-|ext\.?)\d{1,6})?|[48]00\d{7}", re.I)
_MASKED = re.compile(r"1[3-9]\d[\dxX*×]{3,8}")
# A mobile in free text, with or without +86, in ASCII or full-width digits (`\d` takes both),
# written whole or 3-4-4; never a run of digits inside a longer number (an order number).
_PHONE_IN_TEXT = re.compile(
    r"(?<!\d)((?:[+＋]?[8８][6６][ -]?)?[1１][3-9３-９]\d)[ -]?(\d{4})[ -]?(\d{4})(?!\d)"
)


@dataclass
class Rules:
    """The configurable parts of SPEC §4."""

    required: dict = field(default_factory=lambda: dict(DEFAULT_REQUIRED))
    billing_words: tuple[str, ...] = DEFAULT_BILLING_WORDS


@dataclass
class Completeness:
    template: str
    missing: list[str]
    invalid: dict[str, str]
    warnings: list[str]
    order_time: datetime | None

    @property
    def complete(self) -> bool:
        return not self.missing


def template_of(fields: dict[str, str]) -> str:
    if any(k in fields for k in DETAILED_KEYS):
        return "detailed"
    if any(k in fields for k in SIMPLE_KEYS):
        return "simple"
    return "none"


def order_time_of(order_no: str) -> datetime | None:
    """The time encoded in a platform order number (20 digits, YYYYMMDDhhmmss first)."""
    digits = _SPACES.sub("", order_no)
    if len(digits) != 20 or not digits.isdigit():
        return None
    try:  # datetime() checks the calendar; strptime would too, several times slower
        return datetime(
            int(digits[:4]),
            int(digits[4:6]),
            int(digits[6:8]),
            int(digits[8:10]),
            int(digits[10:12]),
            int(digits[12:14]),
        )
    except ValueError:
        return None


def check_order_no(value: str) -> tuple[str | None, str | None]:
    """(invalid reason, warning) for an order number."""
    digits = _SPACES.sub("", tidy_number(value))
    if not digits.isdigit() or not digits.isascii():
        return "not digits", None
    if order_time_of(digits):
        return None, None
    if len(digits) == 20:
        return None, "order_no: 20 digits, but the first 14 are not a valid time (YYYYMMDDhhmmss)"
    if 10 <= len(digits) <= 32:
        return None, f"order_no: {len(digits)} digits, not the platform's 20-digit format"
    return f"{len(digits)} digits, expected 10-32", None


def check_pile_no(value: str) -> str | None:
    digits = _SPACES.sub("", tidy_number(value))
    if not digits.isdigit() or not digits.isascii():
        return "not digits"
    if not 8 <= len(digits) <= 32:
        return f"{len(digits)} digits, expected 8-32"
    return None


def check_phone(value: str) -> str | None:
    number = re.sub(r"[\s\u3000()（）-]", "", tidy_number(value))
    number = re.sub(r"^(?:\+?86)(?=1[3-9])", "", number)
    if _MOBILE.fullmatch(number) or _LANDLINE.fullmatch(number):
        return None
    if _MASKED.fullmatch(number) and re.search(r"[xX*×]", number):
        return None
    return "not a mobile, landline or masked number"


def assess(fields: dict[str, str], subject: str = "", rules: Rules | None = None) -> Completeness:
    rules = rules or Rules()
    template = template_of(fields)
    required = set(rules.required.get(template, ()))
    about_billing = any(
        w in subject or w in fields.get("description", "") for w in rules.billing_words
    )
    if about_billing and template != "detailed":
        required.add("order_no")
    invalid = {}
    warnings = []
    if "order_no" in fields:
        reason, warning = check_order_no(fields["order_no"])
        if reason:
            invalid["order_no"] = reason
        if warning:
            warnings.append(warning)
    for key, check in (("pile_no", check_pile_no), ("phone", check_phone)):
        if key in fields and (reason := check(fields[key])):
            invalid[key] = reason
    order = [s.key for s in catalog().fields]
    missing = [k for k in order if k in required and (k not in fields or k in invalid)]
    order_time = order_time_of(tidy_number(fields["order_no"])) if "order_no" in fields else None
    return Completeness(template, missing, invalid, warnings, order_time)


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
    """Mask every mobile number written out in free text."""
    return _PHONE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
