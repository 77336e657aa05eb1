"""Decide a ticket's template, what it lacks, and whether its values are valid (SPEC §4)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from ingest.reading.fields import catalog
from ingest.reading.phones import check_phone, foreign_phone
from ingest.reading.settings import Rules
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
_SPACES = re.compile(r"[\s\u3000]+")


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


def assess(
    fields: dict[str, str], subject: str = "", rules: Rules | None = None, tickets: int = 1
) -> Completeness:
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
    if tickets > 1:
        warnings.append(f"the mail seems to hold {tickets} tickets; only the first was read")
    if "order_no" in fields:
        reason, warning = check_order_no(fields["order_no"])
        if reason:
            invalid["order_no"] = reason
        if warning:
            warnings.append(warning)
    for key, check in (("pile_no", check_pile_no), ("phone", check_phone)):
        if key in fields and (reason := check(fields[key])):
            invalid[key] = reason
    if "phone" in fields and foreign_phone(fields["phone"]):
        warnings.append("phone: not a mainland China number")
    order = [s.key for s in catalog().fields]
    missing = [k for k in order if k in required and (k not in fields or k in invalid)]
    order_time = order_time_of(tidy_number(fields["order_no"])) if "order_no" in fields else None
    return Completeness(template, missing, invalid, warnings, order_time)
