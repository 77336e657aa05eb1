"""Boxes an OCR engine found, put into lines and read with the text's label rules (SPEC §14):
pure, no engine needed, so in the fast tier."""

from __future__ import annotations

import math

from ingest.reading.fields import read_fields
from ingest.reading.screenshots import invalid_reason, layout_lines, upright


def _box(left: float, top: float, width: float, height: float, angle: float = 0.0) -> list:
    """The four corners of a text box, turned by `angle` degrees about the origin."""
    a = math.radians(angle)
    corners = [(left, top), (left + width, top), (left + width, top + height), (left, top + height)]
    return [
        [x * math.cos(a) - y * math.sin(a), x * math.sin(a) + y * math.cos(a)] for x, y in corners
    ]


def _page(angle: float = 0.0) -> list:
    return [
        (_box(70, 640, 110, 44, angle), "订单号"),
        (_box(590, 650, 420, 36, angle), "20261124081644614873"),
        (_box(70, 740, 150, 44, angle), "充电桩号"),
        (_box(715, 748, 300, 36, angle), "32010600123456"),
        (_box(70, 840, 110, 44, angle), "运营商"),
        (_box(880, 842, 130, 44, angle), "星星充电"),
        (_box(70, 1440, 150, 44, angle), "停止原因"),
        (_box(660, 1446, 350, 40, angle), "10（BMS主动停止）"),
    ]


def test_label_and_value_boxes_on_one_row_read_as_a_labelled_line():
    lines = layout_lines(upright(_page()))
    assert lines[0] == "订单号：  20261124081644614873"
    assert lines[-1] == "停止原因：  10（BMS主动停止）"
    fields = read_fields("\n".join(lines)).fields
    assert fields["order_no"] == "20261124081644614873"
    assert fields["pile_no"] == "32010600123456" and fields["operator"] == "星星充电"


def test_a_photo_taken_askew_keeps_its_rows():
    # 8° of slant moves the right-hand value a row's height down: read upright it stays put.
    fields = read_fields("\n".join(layout_lines(upright(_page(8))))).fields
    assert fields["order_no"] == "20261124081644614873" and fields["operator"] == "星星充电"


def test_a_box_that_holds_label_and_value_ends_its_field():
    boxes = [
        (_box(40, 20, 330, 50), "运营商：国家电网"),
        (_box(900, 24, 260, 40), "2026-11-24 09:02"),
    ]
    assert layout_lines(upright(boxes)) == ["运营商：国家电网", "2026-11-24 09:02"]


def test_an_order_number_from_a_picture_must_be_the_platforms_twenty_digits():
    assert invalid_reason("order_no", "2026112408164461487") is not None  # 19 digits
    assert invalid_reason("order_no", "20261324081644614873") is not None  # month 13
    assert invalid_reason("order_no", "20261124081644614873") is None
    assert invalid_reason("pile_no", "3201") is not None
