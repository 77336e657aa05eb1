"""HTML-only mail keeps its lines."""

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
