"""Templates, required fields, validation and masking (SPEC §4)."""

from datetime import datetime

import pytest

from ingest.reading.completeness import Rules, assess, template_of

COMPLETE_SIMPLE = {
    "operator": "星星充电",
    "description": "APP 无法登录",
    "operator_findings": "已重装",
}


def test_template_from_fields():
    assert template_of({}) == "none"
    assert template_of({"operator": "x"}) == "simple"
    assert template_of({"operator": "x", "pile_no": "12345678"}) == "detailed"
    assert template_of({"abnormal_status": "无"}) == "detailed"


def test_simple_complete_without_order_number():
    result = assess(COMPLETE_SIMPLE, subject="APP 登录问题")
    assert (result.template, result.missing, result.complete) == ("simple", [], True)


@pytest.mark.parametrize(
    "subject,description",
    [
        ("充电桩充不上", "APP 无法登录"),
        ("咨询", "用户要求退款"),
        ("Re: 扣费异常", "x"),
    ],
)
def test_charging_or_billing_ticket_needs_the_order_number(subject, description):
    fields = {**COMPLETE_SIMPLE, "description": description}
    result = assess(fields, subject=subject)
    assert result.missing == ["order_no"] and not result.complete


def test_missing_lists_keys_in_table_order():
    result = assess({"station": "平湖中泰站"}, subject="充电失败")
    assert result.template == "detailed"
    assert result.missing == ["operator", "order_no", "description", "operator_findings"]


def test_required_fields_are_configurable():
    rules = Rules(
        required={"simple": ("operator",), "none": ("operator",), "detailed": ("operator",)},
        billing_words=(),
    )
    assert assess({"operator": "x"}, "充电", rules).complete


def test_platform_order_number_gives_its_time():
    result = assess({**COMPLETE_SIMPLE, "order_no": "2019 0830 2116 4461 4873"})
    assert result.order_time == datetime(2019, 8, 30, 21, 16, 44)
    assert result.invalid == {} and result.warnings == []


def test_other_digit_strings_are_accepted_with_a_warning():
    for order_no in ("1234567890", "20191332211644614873", "1" * 32, "１２３４５６７８９０１２"):
        result = assess({**COMPLETE_SIMPLE, "order_no": order_no})
        assert result.complete and result.order_time is None
        assert len(result.warnings) == 1 and "order_no" in result.warnings[0]


@pytest.mark.parametrize(
    "order_no,reason",
    [
        ("2019083021164461487A", "not digits"),
        ("123456789", "9 digits, expected 10-32"),
        ("１２３４５６７８９", "9 digits, expected 10-32"),  # full-width digits are digits (§3a)
    ],
)
def test_invalid_order_number_is_missing_and_invalid(order_no, reason):
    result = assess({**COMPLETE_SIMPLE, "order_no": order_no})
    assert result.invalid == {"order_no": reason}
    assert result.missing == ["order_no"]


@pytest.mark.parametrize(
    "phone,valid",
    [
        ("13512348382", True),
        ("+86 135 1234 8382", True),
        ("135****8382", True),
        ("135xxxxxx", True),
        ("0571-88886666", True),
        ("021 12345678", True),
        ("400-123-4567", True),
        ("12345", False),
        ("打电话给我", False),
        ("10012348382", False),
    ],
)
def test_phone_validation(phone, valid):
    result = assess({**COMPLETE_SIMPLE, "order_no": "20190830211644614873", "phone": phone})
    assert ("phone" not in result.invalid) is valid
    assert result.complete  # phone is not required: an invalid one does not block


@pytest.mark.parametrize(
    "pile_no,valid", [("35010400080000200015", True), ("1234567", False), ("A1234567", False)]
)
def test_pile_number_validation(pile_no, valid):
    assert ("pile_no" not in assess({"pile_no": pile_no}).invalid) is valid


def test_full_width_digits_and_remarks_are_read_past_for_validation():
    result = assess(
        {
            **COMPLETE_SIMPLE,
            "order_no": "２０２６１１２３１９４５１０１２３４５６（已补充）",
            "pile_no": "35010400080000200015 已更正",
            "phone": "１３５１２３４８３８２",
        }
    )
    assert result.invalid == {} and result.complete
    assert result.order_time.isoformat() == "2026-11-23T19:45:10"


@pytest.mark.parametrize("order_no", ["2026-1123-1945-1012-3456", "20261123194510123456、2026"])
def test_dashes_inside_or_two_numbers_stay_invalid(order_no):
    result = assess({**COMPLETE_SIMPLE, "order_no": order_no})
    assert result.invalid == {"order_no": "not digits"}
    assert "order_no" in result.missing


def test_every_validated_field_is_checked_required_or_not():
    result = assess({**COMPLETE_SIMPLE, "order_no": "20261123194510123456", "pile_no": "12",
                     "phone": "12345"})  # fmt: skip
    assert set(result.invalid) == {"pile_no", "phone"}
    assert result.complete  # neither is required
