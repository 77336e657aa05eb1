"""One huge or hostile email is stored and flagged, never a crash or a stalled cycle."""

import base64

import pytest
from sqlmodel import select

from ingest.config import Config
from ingest.reading.limits import TooSlow, time_limit
from ingest.reading.ticket import read_ticket
from ingest.store import db
from ingest.store.models import Message
from ingest.store.tickets import store_and_commit
from tests.clock import utcnow
from tests.conftest import make_mail

TICKET = "运营商：星星充电\n问题描述：充不上电\n运营商初步排查结果：已重启\n"


@pytest.fixture
def put(tmp_path):
    url = f"sqlite:///{tmp_path}/g.db"
    db.upgrade(url)
    engine = db.open_database(url)
    session = db.session(engine)
    config = Config()

    def store(raw, **desk):
        for name, value in desk.items():
            setattr(config.desk, name, value)
        stored = store_and_commit(session, raw, config, now=utcnow())
        message = session.exec(select(Message).where(Message.id == stored.message_db_id)).one()
        return stored, message

    yield store
    session.close()
    engine.dispose()


def test_oversized_message_is_stored_whole_and_read_from_its_start(put):
    raw = make_mail(TICKET + "附件说明\n" + "很长的内容。" * 5000, message_id="<big@x.example.cn>")
    stored, message = put(raw, max_message_bytes=4096)
    assert message.raw == raw and "too_large" in message.flags
    assert stored.outcome == "new_ticket" and stored.reading.fields["operator"] == "星星充电"


def test_long_text_is_truncated_for_fields_only(put):
    raw = make_mail(TICKET + "x" * 10_000, message_id="<long@x.example.cn>")
    stored, message = put(raw, max_text_chars=1000)
    assert "text_truncated" in message.flags and message.raw == raw
    assert stored.reading.fields["operator_findings"].startswith("已重启")


def test_too_many_parts_are_not_all_walked(put):
    parts = "".join(
        f"--b\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename=p{n}.jpg\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{base64.b64encode(b'x').decode()}\r\n"
        for n in range(50)
    )
    raw = (
        f"From: ops@x.example.cn\r\nSubject: photos\r\nMessage-ID: <parts@x.example.cn>\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        f"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"hi\r\n{parts}--b--\r\n"
    ).encode()
    stored, message = put(raw, max_parts=10)
    assert "too_many_parts" in message.flags and len(stored.reading.mail.attachments) < 10


def test_reading_past_the_time_limit_is_stored_and_flagged(put):
    raw = make_mail(TICKET * 2000, message_id="<slow@x.example.cn>")
    stored, message = put(raw, seconds_per_message=0.001)
    assert stored.outcome == "unreadable" and message.raw == raw
    assert message.parse_error.startswith("reading took longer than")


def test_time_limit_interrupts_a_runaway_regular_expression():
    import re
    import time

    started = time.monotonic()
    with pytest.raises(TooSlow):
        with time_limit(0.2):
            re.match(r"(a+)+$", "a" * 40 + "b")
    assert time.monotonic() - started < 2


def test_parse_reports_limits_as_warnings():
    from ingest.config import DeskSettings

    reading = read_ticket(make_mail(TICKET + "y" * 500), DeskSettings(max_text_chars=100))
    assert "limit: text_truncated" in reading.as_json()["warnings"]
