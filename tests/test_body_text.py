"""Which body parts are read, in what order (SPEC §3, §3a)."""

from email import message_from_bytes

from ingest.reading.body_text import body_text
from ingest.reading.ticket import read_ticket


def alternative(plain: str, html: str) -> bytes:
    return (
        "From: a@example.cn\nSubject: x\nMIME-Version: 1.0\n"
        'Content-Type: multipart/alternative; boundary="b"\n\n'
        "--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        f"{plain}\n"
        "--b\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n"
        f"{html}\n--b--\n"
    ).encode()


HTML = "<div>运营商：星桥</div><div>问题描述：离线</div><div>运营商初步排查结果：已重启</div>"


def test_the_text_part_of_an_alternative_is_read_when_it_holds_as_many_labels():
    plain = "运营商：星桥（纯文本）\n问题描述：离线\n运营商初步排查结果：已重启"
    assert body_text(message_from_bytes(alternative(plain, HTML))) == plain


def test_the_html_part_is_read_when_the_text_part_is_empty_or_has_fewer_labels():
    assert body_text(message_from_bytes(alternative("  ", HTML))).startswith("运营商：星桥\n")
    flat = "运营商\t星桥\n问题描述\t离线\n运营商初步排查结果：已重启"
    reading = read_ticket(alternative(flat, HTML))
    assert reading.fields == {
        "operator": "星桥",
        "description": "离线",
        "operator_findings": "已重启",
    }


def test_html_entities_hiding_labels_still_count():
    entities = "".join(f"&#{ord(c)};" for c in "运营商") + "：星桥<br>问题描述：离线"
    reading = read_ticket(alternative("问题描述：离线", entities))
    assert reading.fields == {"operator": "星桥", "description": "离线"}


def test_several_text_parts_are_joined_in_order():
    raw = (
        "From: a@example.cn\nSubject: x\nMIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="m"\n\n'
        "--m\nContent-Type: text/plain; charset=utf-8\n\n运营商：乐充\n"
        "--m\nContent-Type: image/png; name=a.png\nContent-Disposition: inline; filename=a.png\n"
        "Content-Transfer-Encoding: base64\n\niVBORw0KGgo=\n"
        "--m\nContent-Type: text/html; charset=utf-8\n\n<div>问题描述：屏幕碎裂</div>\n"
        "--m\nContent-Type: text/plain; charset=utf-8\n\n运营商初步排查结果：已换屏\n--m--\n"
    ).encode()
    assert read_ticket(raw).fields == {
        "operator": "乐充",
        "description": "屏幕碎裂",
        "operator_findings": "已换屏",
    }


def test_control_characters_never_reach_a_stored_value():
    raw = alternative(
        "",
        "<div>运营商：星\x00桥\x1b[2J</div><div>问题描述：\x1b]52;c;aGk=\x07离线\u202e</div>",
    )
    reading = read_ticket(raw)
    assert reading.fields == {"operator": "星桥", "description": "离线"}
