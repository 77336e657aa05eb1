"""`gongdan send`: the sending stage in its own process (SPEC §9), against a real aiosmtpd and
SQLite or PostgreSQL. It sends what the poll queued, keeps out of another sender's way, stops
cleanly with --loop, is loud when the outbox cannot send, and delivers at least once: a reply
whose hand-over a kill cut after DATA began goes out again, the same message."""

from __future__ import annotations

import asyncio
import email
import json
import os
import signal
import threading
import time
from email import policy
from pathlib import Path

import pytest

from ingest.store import db, outbox
from ingest.store.lock import exclusive
from ingest.store.models import Outbox
from tests.clock import utcnow
from tests.conftest import make_mail
from tests.desk import Desk, smtp_outgoing

INCOMPLETE = "运营商：星星充电\n问题描述：3号桩充不上电\n"
FROM = "support@gongdan.example.cn"
PASSWORD_ENV = "GD_SEND_SMTP_PW"


def send_desk(
    tmp_path: Path, database_url: str, sink, login: tuple[str, str] | None = None
) -> Desk:
    """gongdan on a local Maildir inbox, sending over SMTP to the test's aiosmtpd."""
    auth = f'username = "{login[0]}"\npassword_env = "{PASSWORD_ENV}"\n' if login else ""
    outgoing = smtp_outgoing(sink.port, auth)
    return Desk(tmp_path, database_url, smtp=sink, outgoing=outgoing, password_env=PASSWORD_ENV)


def deliver(desk: Desk, count: int) -> None:
    for n in range(count):
        raw = make_mail(
            INCOMPLETE,
            subject=f"故障{n}",
            sender=f"ops{n}@xingxing.example.cn",
            message_id=f"<d{n}@xingxing.example.cn>",
        )
        desk.deliver(raw, f"{1700000000 + n}.M{n}.test")


def queue(desk: Desk, count: int) -> list[str]:
    """Queue replies straight into the outbox, as the poll does; their Message-IDs."""
    engine = db.open_database(desk.url)
    ids = []
    try:
        with db.session(engine) as session:
            for n in range(count):
                message_id = f"<q{n}.{time.monotonic_ns()}@gongdan.example.cn>"
                raw = (
                    f"From: {FROM}\r\nTo: ops{n}@xingxing.example.cn\r\n"
                    f"Subject: Re: 故障\r\nMessage-ID: {message_id}\r\n\r\n"
                    f"reply {n}\r\n"
                ).encode()
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
                ids.append(message_id)
            session.commit()
    finally:
        engine.dispose()
    return ids


def by_message_id(desk: Desk) -> dict[str, Outbox]:
    """The outbox by Message-ID."""
    return {row.message_id: row for row in desk.rows()}


def received(sink) -> list[str]:
    return [
        email.message_from_bytes(m.data, policy=policy.default)["Message-ID"] for m in sink.messages
    ]


def slow_data(sink, seconds: float) -> threading.Event:
    """The sink keeps each message, then answers the end of DATA `seconds` later (while the
    returned event is clear; set it to answer at once). Read by each new SMTP connection."""
    handler = sink._controller.handler
    original, fast = handler.handle_DATA, threading.Event()

    async def data(server, session, envelope):
        result = await original(server, session, envelope)
        deadline = time.monotonic() + seconds
        while not fast.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return result

    handler.handle_DATA = data
    return fast


def wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_send_sends_what_the_poll_queued(tmp_path, database_url, smtp_sink, monkeypatch):
    import ingest.desk.poll

    desk = send_desk(tmp_path, database_url, smtp_sink)
    deliver(desk, 3)
    monkeypatch.setattr(ingest.desk.poll, "OUTBOX_WAIT", 0.2)  # the poll's wait for another sender
    engine = db.open_database(database_url)
    try:
        # Another run holds the outbox (a `gongdan send` working elsewhere): the poll only queues.
        with exclusive(engine, "outbox") as got:
            assert got
            polled = desk.gongdan("poll")
    finally:
        engine.dispose()
    assert polled.exit_code == 0 and "3 replies" in polled.output, polled.output
    assert "outbox: another run is sending" in polled.output and smtp_sink.messages == []

    result = desk.gongdan("send")
    assert result.exit_code == 0 and "outbox: 3 sent, 0 failed" in result.output, result.output
    replies = [email.message_from_bytes(m.data, policy=policy.default) for m in smtp_sink.messages]
    answered = sorted(r["In-Reply-To"] for r in replies)
    assert answered == [f"<d{n}@xingxing.example.cn>" for n in range(3)]
    assert {row.state for row in by_message_id(desk).values()} == {"sent"}
    again = desk.gongdan("send")
    assert "outbox: 0 sent, 0 failed" in again.output and len(smtp_sink.messages) == 3


@pytest.mark.parametrize("smtp_sink", [("support", "s3cret-pw")], indirect=True)
def test_send_that_cannot_log_in_is_one_line_and_keeps_the_replies_queued(
    tmp_path, database_url, smtp_sink
):
    desk = send_desk(tmp_path, database_url, smtp_sink, login=("support", "s3cret-pw"))
    deliver(desk, 1)
    assert desk.gongdan("poll").exit_code == 1  # stored and queued; the outbox cannot send
    (message_id,) = by_message_id(desk)

    result = desk.gongdan("send")  # the password's variable is still not set
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: outbox: SMTP password: environment variable {PASSWORD_ENV} is not set"
    ]
    row = by_message_id(desk)[message_id]
    assert (row.state, row.attempts, row.last_error) == ("queued", 0, None)
    status = desk.gongdan("status", "--json")
    report = json.loads(status.stdout)
    assert status.exit_code == 1 and report["outbox"]["last_drain"]["ok"] is False

    refused = desk.gongdan("send", password="wrong")
    assert refused.exit_code == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "refused the login of support" in refused.stderr
    assert by_message_id(desk)[message_id].attempts == 0 and smtp_sink.messages == []

    result = desk.gongdan("send", password="s3cret-pw")
    assert result.exit_code == 0 and "outbox: 1 sent" in result.output, result.output
    assert received(smtp_sink) == [message_id]
    status = desk.gongdan("status", "--json")
    assert status.exit_code == 0 and json.loads(status.stdout)["outbox"]["last_drain"]["ok"]


def test_a_second_send_says_another_is_sending_and_exits_0(tmp_path, database_url, smtp_sink):
    desk = send_desk(tmp_path, database_url, smtp_sink)
    (message_id,) = queue(desk, 1)
    fast = slow_data(smtp_sink, 30)
    first = desk.process("send")
    try:
        assert wait_until(lambda: smtp_sink.messages), desk.said()
        second = desk.gongdan("send")
        assert second.exit_code == 0 and "outbox: another run is sending" in second.output
    finally:
        fast.set()
    assert first.wait(30) == 0, desk.said()
    assert "outbox: 1 sent, 0 failed" in desk.said()
    assert received(smtp_sink) == [message_id] and by_message_id(desk)[message_id].state == "sent"


def test_send_loop_sends_as_replies_come_and_stops_on_sigterm(tmp_path, database_url, smtp_sink):
    desk = send_desk(tmp_path, database_url, smtp_sink)
    proc = desk.process("send", "--loop", "--interval", "0.3")
    try:
        assert wait_until(lambda: "outbox: 0 sent" in desk.said()), desk.said()
        queued = queue(desk, 2)
        assert wait_until(lambda: len(smtp_sink.messages) == 2), desk.said()
        # Waiting for the next round with a long interval: SIGTERM ends it at once.
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0, desk.said()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sorted(received(smtp_sink)) == sorted(queued)
    assert {row.state for row in by_message_id(desk).values()} == {"sent"}


def test_send_loop_ends_during_a_long_wait(tmp_path, database_url, smtp_sink):
    desk = send_desk(tmp_path, database_url, smtp_sink)
    proc = desk.process("send", "--loop", "--interval", "600")
    try:
        assert wait_until(lambda: "outbox: 0 sent" in desk.said()), desk.said()
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0 and time.monotonic() - started < 5, desk.said()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_reply_whose_hand_over_a_kill_cut_is_sent_again_the_same(
    tmp_path, database_url, smtp_sink
):
    """SPEC §9: a `gongdan send` SIGKILLed while the server holds the message but has not
    answered DATA leaves the reply unconfirmed; the next drain sends it again, the same bytes
    with the same Message-ID, and marks it sent. The other reply goes out once."""
    desk = send_desk(tmp_path, database_url, smtp_sink)
    first_id, second_id = queue(desk, 2)
    fast = slow_data(smtp_sink, 60)
    proc = desk.process("send")
    try:
        assert wait_until(lambda: smtp_sink.messages), desk.said()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        fast.set()
    assert received(smtp_sink) == [first_id]
    assert (
        by_message_id(desk)[first_id].state == "sending"
    )  # what the kill left: no outcome recorded

    result = desk.gongdan("send")
    assert result.exit_code == 0 and "outbox: 2 sent, 0 failed" in result.output, result.output
    assert received(smtp_sink) == [first_id, first_id, second_id]
    copies = [m.data for m in smtp_sink.messages[:2]]
    assert copies[0] == copies[1]  # the same message, not a new one
    rows = by_message_id(desk)
    assert {(rows[m].state, rows[m].attempts) for m in (first_id, second_id)} == {("sent", 1)}
    assert desk.gongdan("send").output.startswith("outbox: 0 sent")
