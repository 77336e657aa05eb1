"""Failures are loud (SPEC §9, §11): an outbox that cannot send fails the poll with one line and
makes `status` degraded; a configuration or login refusal keeps the reply queued until it is
fixed, then it goes out once. Real aiosmtpd on 127.0.0.1, SQLite and PostgreSQL; the Maildir
outbox takes back what a killed run left, without ever writing a reply twice."""

from __future__ import annotations

import email
import os
import stat
import subprocess
import sys
from datetime import timedelta
from email import policy
from pathlib import Path

import pytest
from sqlalchemy import update

from ingest.config import is_loopback
from ingest.store import db, outbox
from ingest.store.models import Outbox
from replies import sending
from replies.compose import compose_reply, make_message_id
from replies.sending import MaildirSink, maildir_name
from tests.clock import utcnow
from tests.conftest import make_mail
from tests.desk import Desk
from tests.servers import free_port

COMPLETE = (
    "运营商：星星充电\n订单号：20261124081644614873\n"
    "问题描述：扫码后无法启动\n运营商初步排查结果：已重启，停止原因：34\n"
    "手机号：13512348382\n"
)
PASSWORD_ENV = "GD_LOUD_SMTP_PW"
USER, PASSWORD = "support", "s3cret-pw"
FROM = "support@gongdan.example.cn"


def deliver(desk: Desk, n: int) -> str:
    """A complete ticket from its own operator into the inbox; its Message-ID."""
    message_id = f"<loud{n}@xingxing.example.cn>"
    raw = make_mail(
        COMPLETE,
        subject=f"扫码无法启动{n}",
        sender=f"ops{n}@xingxing.example.cn",
        message_id=message_id,
    )
    desk.deliver(raw, f"17000000{n:02d}.M{n}.test")
    return message_id


def loud_desk(tmp_path: Path, database_url: str, outgoing: str) -> Desk:
    """gongdan on a local Maildir inbox, sending through `outgoing` (a TOML [outgoing] body)."""
    return Desk(tmp_path, database_url, outgoing=outgoing, password_env=PASSWORD_ENV)


def smtp_outgoing(port: int, host: str = "127.0.0.1", username: str = USER) -> str:
    return (
        f'kind = "smtp"\nhost = "{host}"\nport = {port}\nsecurity = "plain"\n'
        "connections = 2\n"
        + (f'username = "{username}"\npassword_env = "{PASSWORD_ENV}"\n' if username else "")
    )


def received_ids(sink) -> list[str]:
    return [
        email.message_from_bytes(m.data, policy=policy.default)["Message-ID"] for m in sink.messages
    ]


def assert_one_line_failure(result, *expected: str) -> str:
    """Exit 1 and exactly one line on stderr naming the cause; no traceback anywhere."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def assert_still_queued(desk: Desk) -> Outbox:
    """The reply is waiting as it was queued: not failed, not given up, no attempt counted."""
    (row,) = desk.rows()
    assert (row.state, row.attempts, row.sent_at) == ("queued", 0, None)
    # Due now: the next poll sends it.
    assert row.next_attempt_at is not None and row.next_attempt_at <= utcnow()
    return row


# --- a missing password ------------------------------------------------------------------------


@pytest.mark.parametrize("smtp_sink", [(USER, PASSWORD)], indirect=True)
def test_missing_password_fails_the_poll_keeps_the_reply_queued_then_sends_it_once(
    tmp_path, database_url, smtp_sink
):
    desk = loud_desk(tmp_path, database_url, smtp_outgoing(smtp_sink.port))
    mid = deliver(desk, 1)
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    proc = subprocess.run(
        [sys.executable, "-m", "ingest", "--config", str(desk.config), "poll"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # A real process: exit 1, one line on stderr naming the variable, no traceback.
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"Error: outbox: SMTP password: environment variable {PASSWORD_ENV} is not set"
    ]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert smtp_sink.auth_attempts == [] and smtp_sink.messages == []
    row = assert_still_queued(desk)

    code, report = desk.status()
    assert code == 1 and not report["healthy"]
    assert report["outbox"]["last_drain"]["ok"] is False
    assert PASSWORD_ENV in report["outbox"]["last_drain"]["error"]
    assert any("the last send" in p and PASSWORD_ENV in p for p in report["problems"])

    # Fixed: the next poll sends it, exactly once, and the desk is healthy again.
    assert desk.gongdan("poll", password=PASSWORD).exit_code == 0
    assert desk.gongdan("poll", password=PASSWORD).exit_code == 0
    assert received_ids(smtp_sink) == [row.message_id]
    (sent,) = desk.rows()
    assert sent.state == "sent" and sent.attempts == 1
    assert email.message_from_bytes(smtp_sink.messages[0].data)["In-Reply-To"] == mid
    code, report = desk.status()
    assert code == 0 and report["outbox"]["last_drain"]["ok"] and report["outbox"]["waiting"] == 0


# --- a login the server refuses ----------------------------------------------------------------


@pytest.mark.parametrize("smtp_sink", [(USER, PASSWORD)], indirect=True)
@pytest.mark.parametrize(
    "username,wrong,code",
    [(USER, "not-the-password", "535"), ("", PASSWORD, "530")],
    ids=["535-wrong-password", "530-no-login-configured"],
)
def test_refused_login_keeps_the_reply_queued_then_sends_it_once(
    tmp_path, database_url, smtp_sink, username, wrong, code
):
    desk = loud_desk(tmp_path, database_url, smtp_outgoing(smtp_sink.port, username=username))
    deliver(desk, 1)
    for _ in range(3):  # poll after poll, nothing is given up and no attempt is counted
        result = desk.gongdan("poll", password=wrong)
        assert_one_line_failure(result, "outbox:", code)
        row = assert_still_queued(desk)
    assert smtp_sink.messages == []
    if username:
        # One login per poll (smtplib tries PLAIN, then LOGIN), not one per reply or connection.
        assert set(smtp_sink.auth_attempts) == {(USER, False)}
        assert len(smtp_sink.auth_attempts) == 3 * 2
    assert row.last_error is None  # nothing is wrong with the reply itself
    code_, report = desk.status()
    assert code_ == 1 and code in report["outbox"]["last_drain"]["error"]

    # The admin fixes the config: the very next poll sends it (no back-off to wait for), once.
    desk.write_outgoing(smtp_outgoing(smtp_sink.port))
    assert desk.gongdan("poll", password=PASSWORD).exit_code == 0
    assert desk.gongdan("poll", password=PASSWORD).exit_code == 0
    assert received_ids(smtp_sink) == [row.message_id]
    assert smtp_sink.auth_attempts[-1] == (USER, True)
    assert desk.rows()[0].state == "sent"
    assert desk.status()[0] == 0


# --- plain SMTP to a host that is not this machine ----------------------------------------------


def test_plain_smtp_to_a_non_local_host_is_refused_before_connecting(
    tmp_path, database_url, smtp_sink
):
    # .invalid never resolves: had a connection been tried, the error would say it cannot reach
    # the server (the control below shows that text for a closed port on 127.0.0.1).
    desk = loud_desk(
        tmp_path, database_url, smtp_outgoing(smtp_sink.port, host="mail.example.invalid")
    )
    deliver(desk, 1)
    line = assert_one_line_failure(
        desk.gongdan("poll", password=PASSWORD),
        "mail.example.invalid",
        'security = "plain" is only allowed to a loopback host',
    )
    assert "cannot reach" not in line and PASSWORD not in line
    row = assert_still_queued(desk)
    assert desk.status()[0] == 1

    # Control: plain to a closed port on 127.0.0.1 is allowed, so a connection is tried and fails.
    desk.write_outgoing(smtp_outgoing(free_port()))
    assert_one_line_failure(
        desk.gongdan("poll", password=PASSWORD), "cannot reach SMTP server 127.0.0.1"
    )

    # Positive control: plain to the loopback server sends it, once.
    desk.execute(update(Outbox.__table__).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    desk.write_outgoing(smtp_outgoing(smtp_sink.port, username=""))
    assert desk.gongdan("poll", password=PASSWORD).exit_code == 0
    assert received_ids(smtp_sink) == [row.message_id]


@pytest.mark.parametrize(
    "host,local",
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("localhost.", True),
        ("127.0.0.1", True),
        ("127.5.6.7", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("128.0.0.1", False),
        ("::", False),
        ("mail.example.cn", False),
        ("localhost.example.cn", False),
        ("127.0.0.1.example.cn", False),
        ("", False),
    ],
)
def test_only_loopback_hosts_count_as_local(host, local):
    assert is_loopback(host) is local


# --- an unreachable server -----------------------------------------------------------------------


def test_unreachable_server_fails_the_poll_and_degrades_status(tmp_path, database_url):
    desk = loud_desk(tmp_path, database_url, smtp_outgoing(free_port(), username=""))
    deliver(desk, 1)
    assert_one_line_failure(
        desk.gongdan("poll"), "outbox: cannot reach SMTP server 127.0.0.1", "Connection refused"
    )
    (row,) = desk.rows()
    # Queued as it was, no attempt charged and no back-off of its own (SPEC §9a): it goes out at
    # the first drain after the server returns (tests/test_admin.py).
    assert row.state == "queued" and row.attempts == 0 and row.next_attempt_at <= utcnow()
    code, report = desk.status()
    assert code == 1
    assert any("the last send" in p and "cannot reach" in p for p in report["problems"])


# --- status: what counts as waiting too long ---------------------------------------------------


def test_status_degraded_only_when_a_reply_waits_past_its_first_retry(
    tmp_path, database_url, smtp_sink
):
    desk = loud_desk(tmp_path, database_url, smtp_outgoing(smtp_sink.port, username=""))
    deliver(desk, 1)
    assert desk.gongdan("poll").exit_code == 0  # a healthy desk; the drain succeeded
    desk.execute(
        update(Outbox.__table__).values(
            state="queued",
            sent_at=None,
            attempts=0,
            next_attempt_at=utcnow() - timedelta(seconds=10),
        )
    )
    assert desk.status()[0] == 0  # due a moment ago: the cycle that queued it sends it
    desk.execute(update(Outbox.__table__).values(next_attempt_at=utcnow() - timedelta(minutes=2)))
    code, report = desk.status()
    assert code == 1 and report["outbox"]["waiting"] == 1  # due for longer than one retry interval
    desk.execute(
        update(Outbox.__table__).values(
            state="failed", attempts=1, next_attempt_at=utcnow() + timedelta(minutes=1)
        )
    )
    assert desk.status()[0] == 1  # refused once, retry pending
    assert desk.gongdan("poll").exit_code == 0  # not due yet: nothing to send, the drain is fine
    desk.execute(update(Outbox.__table__).values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    assert desk.gongdan("poll").exit_code == 0
    assert desk.status()[0] == 0 and len(smtp_sink.messages) == 2  # the retry (a resend we forced)


# --- the Maildir outbox after a kill --------------------------------------------------------------


def _maildir_desk(tmp_path, database_url) -> Desk:
    return loud_desk(tmp_path, database_url, 'kind = "maildir"\npath = "out/box"\n')


def _queue(desk: Desk, count: int) -> list[tuple[str, bytes]]:
    """Replies queued as the poll queues them; (Message-ID, raw) each."""
    engine = db.open_database(desk.url)
    queued = []
    try:
        with db.session(engine) as session:
            for n in range(count):
                message_id = make_message_id("gongdan.example.cn")
                raw = compose_reply(
                    body=f"已收到问题 {n}",
                    from_address=FROM,
                    to_address=f"ops{n}@xingxing.example.cn",
                    original_subject="故障",
                    ticket_id=None,
                    in_reply_to=f"<o{n}@xingxing.example.cn>",
                    references=[],
                    message_id=message_id,
                    date=utcnow(),
                )
                outbox.enqueue(
                    session.connection(),
                    outbox.Outgoing(
                        kind="ack",
                        raw=raw,
                        message_id=message_id,
                        to=[f"ops{n}@xingxing.example.cn"],
                        ticket_id=None,
                        caused_by=None,
                        subject="Re: 故障",
                        from_address=FROM,
                    ),
                    utcnow(),
                )
                queued.append((message_id, raw))
            session.commit()
    finally:
        engine.dispose()
    return queued


def _files_by_message_id(folder: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sub in ("new", "cur"):
        for path in (folder / sub).iterdir():
            mid = email.message_from_bytes(path.read_bytes())["Message-ID"]
            counts[mid] = counts.get(mid, 0) + 1
    return counts


def test_maildir_replies_left_sending_by_a_kill_are_sent_once_on_the_next_poll(
    tmp_path, database_url
):
    desk = _maildir_desk(tmp_path, database_url)
    box = tmp_path / "out" / "box"
    (written, raw_w), (unwritten, _), (half, raw_h), (read, raw_r), (fresh, _) = _queue(desk, 5)
    sink = MaildirSink(str(box))
    sink(raw_w, [])  # killed after the file was in new/, before the sent mark
    (box / "tmp" / maildir_name(raw_h)).write_bytes(raw_h[:40])  # killed while writing tmp/
    (box / "tmp" / maildir_name(raw_h)).chmod(0o644)
    sink(raw_r, [])  # delivered, and a mail client has since moved it to cur/
    name = maildir_name(raw_r)
    (box / "new" / name).rename(box / "cur" / f"{name}:2,S")
    # What the kill left in the database: claimed, no outcome.
    killed = [written, unwritten, half, read]
    desk.execute(
        update(Outbox.__table__)
        .where(Outbox.message_id.in_(killed))
        .values(state="sending", claimed_at=utcnow())
    )

    result = desk.gongdan("poll")
    assert result.exit_code == 0, result.output
    assert desk.gongdan("poll").exit_code == 0
    assert _files_by_message_id(box) == {mid: 1 for mid in (written, unwritten, half, read, fresh)}
    assert {row.state for row in desk.rows()} == {"sent"}
    half_file = box / "new" / maildir_name(raw_h)
    assert half_file.read_bytes() == raw_h and stat.S_IMODE(half_file.stat().st_mode) == 0o600
    assert list((box / "tmp").iterdir()) == []
    assert desk.status()[0] == 0


def test_maildir_outbox_files_are_private(tmp_path, database_url):
    desk = _maildir_desk(tmp_path, database_url)
    for n in range(3):
        deliver(desk, n)
    old = os.umask(0o022)
    try:
        assert desk.gongdan("poll").exit_code == 0
    finally:
        os.umask(old)
    box = tmp_path / "out" / "box"
    for folder in (tmp_path / "out", box, box / "new", box / "cur", box / "tmp"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    files = list((box / "new").iterdir())
    assert len(files) == 3 and all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    # Named by the reply's Message-ID: a person can find the file of a reply `outbox list` shows.
    for path in files:
        mid = email.message_from_bytes(path.read_bytes())["Message-ID"]
        assert path.name.startswith(mid.strip("<>"))
        assert path.name == maildir_name(path.read_bytes())


@pytest.mark.parametrize(
    "head",
    [
        b"From: a@x.cn\r\nMessage-ID: <r.1@gongdan.example.cn>\r\nSubject: s\r\n",
        b"message-id:   <r.2@gongdan.example.cn>  \r\nSubject: s\r\n",  # case, spaces
        b"Message-ID:\r\n <folded.3@gongdan.example.cn>\r\nSubject: s\r\n",  # folded
        b"Message-ID: <a.4@x.cn>\r\n\t<b.4@x.cn>\r\nMessage-ID: <c.4@x.cn>\r\n",
        b"Subject: s\nMessage-ID: <lf.5@x.cn>\n",  # bare LF, the header last
        b"Subject: no id\r\n",  # none: named by the content
        b"Subject: \xe5\xb7\xa5\r\nMessage-ID: <\xe5\x8d\x95.6@x.cn>\r\n",  # raw UTF-8
    ],
)
def test_a_maildir_reply_is_named_by_the_message_id_the_mail_parser_reads(head):
    # The name of a reply already in the outbox must not change, or a reply sent again after a
    # kill would make a second file: the quick reading agrees with the standard library's parser.
    raw = head + b"\r\nMessage-ID: <in.the.body@x.cn>\r\n" + b"body line\r\n" * 50
    parsed = email.message_from_bytes(raw, policy=policy.compat32).get("Message-ID", "")
    assert sending._message_id(raw) == str(parsed)
    assert "in.the.body" not in maildir_name(raw)


def test_maildir_outbox_that_cannot_be_written_is_loud_and_keeps_the_reply(tmp_path, database_url):
    # A file where the outbox folder should be: refused even to root.
    desk = _maildir_desk(tmp_path, database_url)
    (tmp_path / "out").write_text("not a folder")
    deliver(desk, 1)
    assert_one_line_failure(desk.gongdan("poll"), "outbox: cannot create the outbox Maildir")
    assert_still_queued(desk)
    (tmp_path / "out").unlink()
    assert desk.gongdan("poll").exit_code == 0
    assert len(list((tmp_path / "out" / "box" / "new").iterdir())) == 1
    assert desk.rows()[0].state == "sent"


# --- a TLS certificate that does not verify ------------------------------------------------------


@pytest.fixture
def tls_smtp(tmp_path):
    """aiosmtpd on 127.0.0.1 speaking implicit TLS with a self-signed certificate; (port, cert,
    received messages)."""
    import ssl

    from aiosmtpd.controller import Controller

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    made = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.fail(f"openssl cannot make a test certificate: {made.stderr.decode()[-300:]}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    received = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            received.append(envelope.original_content or envelope.content)
            return "250 OK"

    controller = Controller(
        Handler(), hostname="127.0.0.1", port=free_port(), ssl_context=context, ready_timeout=5
    )
    controller.start()
    yield controller.port, cert, received
    controller.stop()


def test_tls_certificate_that_does_not_verify_keeps_the_reply_queued(
    tmp_path, database_url, tls_smtp
):
    port, cert, received = tls_smtp
    tls = f'kind = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "tls"\n'
    desk = loud_desk(tmp_path, database_url, tls)
    deliver(desk, 1)
    assert_one_line_failure(
        desk.gongdan("poll"), "outbox:", "TLS failed", "CERTIFICATE_VERIFY_FAILED"
    )
    row = assert_still_queued(desk)
    assert received == [] and desk.status()[0] == 1
    # The admin names the server's CA: the next poll sends it, once.
    desk.write_outgoing(tls + f'ca_file = "{cert}"\n')
    assert desk.gongdan("poll").exit_code == 0
    assert desk.gongdan("poll").exit_code == 0
    assert [email.message_from_bytes(raw)["Message-ID"] for raw in received] == [row.message_id]
