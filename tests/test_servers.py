"""Smoke tests proving the loopback Dovecot, PostgreSQL and SMTP sink really work."""

from __future__ import annotations

import smtplib
import time

import pytest
from imapclient import IMAPClient

from tests import conftest_servers

RAW_ZH = (
    "From: =?UTF-8?B?5byg5LiJ?= <zhangsan@example.com>\r\n"
    "To: support@example.com\r\n"
    "Subject: =?UTF-8?B?5YWF55S15qGp5peg5rOV5ZCv5Yqo?=\r\n"
    "Message-ID: <zh-1@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "充电桩无法启动，屏幕显示错误代码 E07。订单号 2024-0815。\r\n"
).encode()


def login(dovecot, user, password) -> IMAPClient:
    c = IMAPClient("127.0.0.1", dovecot.port, ssl=False, timeout=10)
    c.login(user, password)
    return c


def test_dovecot_append_and_peek_keeps_unseen(dovecot, dovecot_user):
    user, password = dovecot_user
    dovecot.append(user, RAW_ZH)
    c = login(dovecot, user, password)
    try:
        c.select_folder("INBOX")
        (uid,) = c.search("ALL")
        data = c.fetch([uid], ["BODY.PEEK[]", "FLAGS"])[uid]
        assert data[b"BODY[]"] == RAW_ZH  # byte-exact, 8-bit UTF-8 body intact
        assert "充电桩".encode() in data[b"BODY[]"]
        # PEEK must not mark the mail read; check again after the fetch completed.
        assert b"\\Seen" not in c.get_flags([uid])[uid]
        assert b"MOVE" in c.capabilities() and b"UIDPLUS" in c.capabilities()
    finally:
        c.logout()


def test_dovecot_lmtp_delivery_arrives_while_connected(dovecot, dovecot_user):
    user, password = dovecot_user
    c = login(dovecot, user, password)
    try:
        c.select_folder("INBOX")
        assert c.search("ALL") == []
        dovecot.deliver(user, RAW_ZH)
        c.noop()  # lets the server report the new message to this session
        (uid,) = c.search(["HEADER", "Message-ID", "<zh-1@example.com>"])
        assert c.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"].endswith(
            "E07。订单号 2024-0815。\r\n".encode()
        )
    finally:
        c.logout()


def test_dovecot_restart_same_port_keeps_mail(dovecot, dovecot_user):
    user, password = dovecot_user
    dovecot.append(user, RAW_ZH, folder="Archive")
    port = dovecot.port
    old = login(dovecot, user, password)
    t = time.monotonic()
    dovecot.restart()
    assert time.monotonic() - t < 5
    with pytest.raises(Exception):  # noqa: B017 -- the old connection is gone (IMAPClient.AbortError or OSError)
        old.noop()
    old.shutdown()
    assert dovecot.port == port
    c = login(dovecot, user, password)
    try:
        assert c.select_folder("Archive")[b"EXISTS"] == 1
    finally:
        c.logout()


def test_postgres_database_query_and_restart(postgres, pg_url):
    import sqlalchemy as sa

    assert pg_url.startswith(f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/")
    # pool_pre_ping: pooled connections die on restart; without it the next query raises
    # AdminShutdown.
    engine = sa.create_engine(pg_url, pool_pre_ping=True)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE ticket (id serial PRIMARY KEY, subject text)"))
            conn.execute(
                sa.text("INSERT INTO ticket (subject) VALUES (:s)"), {"s": "充电桩无法启动"}
            )
        postgres.restart()
        with engine.connect() as conn:
            assert (
                conn.execute(sa.text("SELECT subject FROM ticket")).scalar_one() == "充电桩无法启动"
            )
            assert conn.execute(sa.text("SHOW server_encoding")).scalar_one() == "UTF8"
    finally:
        engine.dispose()


def test_smtp_sink_records_messages(smtp_sink):
    with smtplib.SMTP("127.0.0.1", smtp_sink.port, timeout=5) as s:
        s.sendmail("support@example.com", ["zhangsan@example.com", "li@example.com"], RAW_ZH)
    (msg,) = smtp_sink.wait_for(1)
    assert msg.mail_from == "support@example.com"
    assert msg.rcpt_tos == ("zhangsan@example.com", "li@example.com")
    assert msg.data.rstrip(b"\r\n") == RAW_ZH.rstrip(b"\r\n")


def test_smtp_sink_stop_then_start_on_same_port(smtp_sink):
    port = smtp_sink.port
    smtp_sink.stop()
    with pytest.raises(ConnectionRefusedError):
        smtplib.SMTP("127.0.0.1", port, timeout=5)
    smtp_sink.start()
    assert smtp_sink.port == port
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as s:
        s.sendmail("a@example.com", ["b@example.com"], b"Subject: back\r\n\r\nup again\r\n")
    assert len(smtp_sink.messages) == 1


@pytest.mark.parametrize("smtp_sink", [("bot@example.com", "s3cret")], indirect=True)
def test_smtp_sink_auth(smtp_sink):
    with smtplib.SMTP("127.0.0.1", smtp_sink.port, timeout=5) as s:
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            s.sendmail("bot@example.com", ["x@example.com"], b"Subject: no auth\r\n\r\n")
        assert e.value.smtp_code == 530
    t = time.monotonic()
    with smtplib.SMTP("127.0.0.1", smtp_sink.port, timeout=5) as s:
        with pytest.raises(smtplib.SMTPAuthenticationError) as e:
            s.login("bot@example.com", "wrong")
        assert e.value.smtp_code == 535
    assert time.monotonic() - t < 2  # a wrongly written authenticator makes this hang until timeout
    with smtplib.SMTP("127.0.0.1", smtp_sink.port, timeout=5) as s:
        s.login("bot@example.com", "s3cret")
        s.sendmail("bot@example.com", ["x@example.com"], b"Subject: ok\r\n\r\n")
    assert len(smtp_sink.messages) == 1


def test_smtp_sink_refusals(smtp_sink):
    smtp_sink.refuse("451 4.3.0 Try again later")
    with smtplib.SMTP("127.0.0.1", smtp_sink.port, timeout=5) as s:
        with pytest.raises(smtplib.SMTPDataError) as e:
            s.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\n")
        assert e.value.smtp_code == 451
    smtp_sink.refuse("550 5.1.1 No such user", at="rcpt")
    with smtplib.SMTP("127.0.0.1", smtp_sink.port, timeout=5) as s:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as e:
            s.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\n")
        assert e.value.recipients["b@example.com"][0] == 550
    smtp_sink.refuse(None)
    with smtplib.SMTP("127.0.0.1", smtp_sink.port, timeout=5) as s:
        s.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\n")
    assert len(smtp_sink.messages) == 1


class _Missing:
    @staticmethod
    def check():
        raise conftest_servers.ServerUnavailable(
            "/usr/sbin/dovecot not found; run scripts/install-test-servers.sh"
        )


def test_missing_server_fails_unless_skip_requested(monkeypatch):
    monkeypatch.delenv("GONGDAN_SKIP_SERVERS", raising=False)
    with pytest.raises(pytest.fail.Exception, match="install-test-servers.sh"):
        conftest_servers._require(_Missing)
    monkeypatch.setenv("GONGDAN_SKIP_SERVERS", "1")
    with pytest.raises(pytest.skip.Exception):
        conftest_servers._require(_Missing)
