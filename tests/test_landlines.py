"""Landlines (SPEC §6b): masked like mobiles in what replies and digests show, the subject
included; order numbers, dates and stop codes stay as written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ingest.reading.phones import mask_phones_in_text
from ingest.store import db
from ingest.store.tickets import store_and_commit
from replies.digest import collect, render
from tests.clock import utcnow
from tests.conftest import make_mail
from tests.desk import Desk
from tests.test_digest import make_config

ORDER = "2019083021164461487"
BODY = (
    "运营商：星星充电\n桩站名称：西湖站 座机(0571)66661234\n"
    f"订单号：{ORDER}\n"
    "问题描述：2026-11-05 10:00 充电中断，站长电话021-12345678，停止原因：34、47\n"
    "运营商初步排查结果：已重启，值班电话010 1234 5678\n"
)
SUBJECT = "充电失败 请回电0571-66661234"
UNMASKED = ("66661234", "6666 1234", "12345678", "1234 5678")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("电话0571-66661234", "电话0571-6666****"),
        ("(0571)66661234", "(0571)6666****"),
        ("（0571）6666-1234", "（0571）6666-****"),
        ("021-12345678", "021-1234****"),
        ("010 1234 5678", "010 1234 ****"),
        ("0571-66661234转8001", "0571-6666****转8001"),
        ("手机13512348382", "手机135****8382"),
    ],
)
def test_landlines_are_masked_like_mobiles(text, shown):
    assert mask_phones_in_text(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        f"订单号{ORDER}",
        "订单号 2019-083021164461487",
        "2026-11-05 10:00",
        "停止原因：34、47、1001",
        "桩号 32010400080000200015",
        "ABC0571-66661234",
    ],
)
def test_order_numbers_dates_and_stop_codes_stay(text):
    assert mask_phones_in_text(text) == text


def test_a_reply_shows_no_landline(tmp_path):
    desk = Desk(tmp_path / "desk", f"sqlite:///{tmp_path / 'gongdan.db'}")
    desk.poll(make_mail(BODY, subject=SUBJECT))
    (reply,) = desk.replies()
    body, subject = reply.get_content(), str(reply["Subject"])
    assert subject == "Re: 充电失败 请回电0571-6666**** [工单#1]"
    assert "座机(0571)6666****" in body and "021-1234****" in body and "010 1234 ****" in body
    assert not any(number in body + subject for number in UNMASKED)
    # What is not a phone reaches the operator as written.
    assert ORDER in body and "2026-11-05 10:00" in body


def test_the_digest_shows_no_landline(engine, database_url):
    config = make_config(database_url)
    with db.session(engine) as session:
        store_and_commit(session, make_mail(BODY, subject=SUBJECT), config, now=utcnow())
        data = collect(
            session.connection(), utcnow() - timedelta(hours=24), utcnow() + timedelta(minutes=1)
        )
    _, text, html = render(data)
    assert "西湖站 座机(0571)6666****" in text and "西湖站 座机(0571)6666****" in html
    assert not any(number in text + html for number in UNMASKED)
    assert f"订单号：{ORDER}" in text  # an order number is no phone
