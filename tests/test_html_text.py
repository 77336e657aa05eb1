"""HTML-only mail keeps its lines."""

import pytest

from ingest.reading.html_text import html_to_text


def test_qq_style_div_lines_and_nbsp():
    html = (
        "<html><head><style>p{}</style></head><body><div>运营商：星星充电</div>"
        "<div>问题描述：&nbsp;无法充电<br>第二行</div><div><br></div><p>订单号：123</p>"
        "<table><tr><td>充电桩号：</td><td>35010400080000200015</td></tr></table></body></html>"
    )
    assert html_to_text(html) == (
        "运营商：星星充电\n问题描述： 无法充电\n第二行\n\n订单号：123\n"
        "充电桩号： 35010400080000200015"
    )


def test_blockquote_becomes_quoted_lines():
    html = "<div>好的</div><blockquote><div>运营商：A</div>问题描述：B</blockquote>"
    assert html_to_text(html) == "好的\n> 运营商：A\n> 问题描述：B"


def test_broken_html_still_gives_text():
    assert "运营商" in html_to_text("<div>运营商：A<div><p></b>&bogus;<")


def test_table_cells_are_units_and_a_label_cell_gets_its_colon():
    from ingest.reading.fields import bare_label, extract_fields

    html = (
        "<table><tr><td>运营商</td><td>星桥充电</td></tr>"
        "<tr><td><p class=MsoNormal>问题描述</p></td>"
        "<td><p class=MsoNormal>充不上电</p><p class=MsoNormal>屏幕黑屏</p></td></tr>"
        "<tr><th>运营商初步排查结果</th><td>已重启</td></tr></table>"
    )
    text = html_to_text(html, bare_label)
    assert text == "运营商： 星桥充电\n问题描述：\n充不上电\n屏幕黑屏\n运营商初步排查结果： 已重启"
    assert extract_fields(text) == {
        "operator": "星桥充电",
        "description": "充不上电\n屏幕黑屏",
        "operator_findings": "已重启",
    }
    # Without a label test the cells are only text: no colon is invented.
    assert html_to_text(html).startswith("运营商 星桥充电\n")


def test_cells_without_closing_tags_and_nested_tables():
    from ingest.reading.fields import bare_label

    html = (
        "<table><tr><td>运营商<td>佳程充电<tr><td>桩站名称<td>"
        "<table><tr><td>福州站</td></tr></table></table><p>end</p>"
    )
    assert html_to_text(html, bare_label) == "运营商： 佳程充电\n桩站名称：\n福州站\nend"


def test_li_and_hr_end_lines_and_hr_is_a_separator():
    from ingest.reading.fields import extract_fields

    html = "<ul><li>运营商：星桥</li><li>问题描述：离线</li></ul><hr>签名档<hr/>"
    text = html_to_text(html)
    assert text.split("\n")[:2] == ["运营商：星桥", "问题描述：离线"]
    assert extract_fields(text) == {"operator": "星桥", "description": "离线"}


def test_a_header_row_of_labels_over_a_row_of_values_pairs_them_by_column():
    from ingest.reading.fields import bare_label, extract_fields

    html = (
        "<table><tr><th>运营商</th><th>桩站名称</th><th>订单号（必填）</th><th>问题描述</th></tr>"
        "<tr><td>星桥充电</td><td>平湖中泰站</td><td></td><td>扫码无反应</td></tr></table>"
        "<hr><div>张三</div>"
    )
    text = html_to_text(html, bare_label)
    assert text.split("\n")[:3] == [
        "运营商：星桥充电",
        "桩站名称：平湖中泰站",
        "问题描述：扫码无反应",
    ]
    assert extract_fields(text) == {
        "operator": "星桥充电",
        "station": "平湖中泰站",
        "description": "扫码无反应",
    }


@pytest.mark.parametrize(
    "html",
    [
        '<table style="border:1px"><tr><td class="l"><b>订单号</b></td><td>：20261203</td></tr>'
        '<tr><td width="80">充电桩号</td><td>35010400080000200015</td></tr></table>',
        '<p style="font-family:Arial;color:#333">Order No.: 123</p><p>Station :A站</p>',
        '<div>站点名称<span style="color:red">(必填)</span>：A站</div>'
        "<div>运营商&nbsp;：星星</div>",
        '<td title="Station">Charger ID</td><td>: 66010300020000100007</td><!-- 订单号： -->',
    ],
)
def test_the_label_words_counted_in_html_are_never_fewer_than_the_labels_of_its_text(html):
    """The reader converts an HTML part only when its label words outnumber the labels of the
    plain part (body_text._choose): skipping tags when counting them must not hide a label that
    the converted text shows."""
    from ingest.reading.field_catalog import bare_label, count_label_words, count_labels

    shown = count_labels(html_to_text(html, label_cell=bare_label))
    assert shown > 0
    assert count_label_words(html) >= shown
