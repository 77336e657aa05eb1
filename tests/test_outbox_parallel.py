"""Sending the outbox over several SMTP connections at once (real aiosmtpd, SQLite and PostgreSQL):
each reply reaches the server once, the counts and row states are exact, an unreachable server
loses nothing, and each reply's sent mark is committed before its connection takes the next."""

from __future__ import annotations

import asyncio
import email
import secrets
import threading
from collections import Counter
from datetime import timedelta
from email import policy

import pytest
from sqlalchemy import select, update

from ingest.config import ConfigError, parse_config
from ingest.store import db, outbox
from ingest.store.models import Outbox
from replies import send_stage
from replies.send_stage import send_due
from replies.sending import INTERRUPTED
from tests.clock import utcnow

FROM = "support@gongdan.example.cn"


def _config(sink, connections: int = 4):
    return parse_config(
        f'[outgoing]\nkind = "smtp"\nhost = "127.0.0.1"\nport = {sink.port}\nsecurity = "plain"\n'
        f'from_address = "{FROM}"\nconnections = {connections}\n'
    )


def _queue(engine, count: int, recipient=lambda n: f"ops{n}@xingxing.example.cn") -> dict[str, str]:
    """Queue `count` replies as the poll does; Message-ID -> recipient."""
    token = secrets.token_hex(3)
    queued = {}
    with db.session(engine) as session:
        for n in range(count):
            message_id, to = f"<r{n}.{token}@gongdan.example.cn>", recipient(n)
            raw = (
                f"From: {FROM}\r\nTo: {to}\r\nSubject: Re: 故障{n}\r\nMessage-ID: {message_id}\r\n"
                f"Auto-Submitted: auto-replied\r\n\r\nreply {n}\r\n"
            ).encode()
            outbox.enqueue(
                session.connection(),
                outbox.Outgoing(
                    kind="ack",
                    raw=raw,
                    message_id=message_id,
                    to=[to],
                    ticket_id=None,
                    caused_by=None,
                    subject=f"Re: 故障{n}",
                    from_address=FROM,
                ),
                utcnow(),
            )
            queued[message_id] = to
        session.commit()
    return queued


def _rows(engine) -> dict[str, Outbox]:
    with db.session(engine) as session:
        return {row.message_id: row for row in session.scalars(select(Outbox))}


def _message_id(raw: bytes) -> str:
    return email.message_from_bytes(raw, policy=policy.default)["Message-ID"]


def _received(sink) -> Counter:
    return Counter(
        email.message_from_bytes(m.data, policy=policy.default)["Message-ID"] for m in sink.messages
    )


def _make_due(engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(Outbox.__table__)
            .where(Outbox.next_attempt_at.is_not(None))
            .values(next_attempt_at=utcnow() - timedelta(seconds=1))
        )


def _hook(sink, name: str, wrapper) -> None:
    """Wrap the sink's handle_<name>; read by each new SMTP connection, so set it before sending."""
    handler = sink._controller.handler
    original = getattr(handler, f"handle_{name}")

    async def hook(server, session, envelope, *args):
        return await wrapper(original, server, session, envelope, *args)

    setattr(handler, f"handle_{name}", hook)


def test_many_replies_over_four_connections_arrive_once_each(engine, smtp_sink):
    queued = _queue(engine, 200)
    peers = set()

    async def mail(original, server, session, envelope, *args):
        peers.add(session.peer)
        return await original(server, session, envelope, *args)

    _hook(smtp_sink, "MAIL", mail)

    report = send_due(_config(smtp_sink, connections=4), engine, utcnow())

    assert (report.sent, report.failed, report.errors) == (200, 0, [])
    assert _received(smtp_sink) == Counter(dict.fromkeys(queued, 1))
    assert {
        m.data.split(b"\r\nTo: ")[1].split(b"\r\n")[0].decode() for m in smtp_sink.messages
    } == set(queued.values())
    rows = _rows(engine)
    assert {
        (r.state, r.attempts, r.sent_at is not None, r.next_attempt_at) for r in rows.values()
    } == {("sent", 1, True, None)}
    assert 2 <= len(peers) <= 4  # sent in parallel, never over more connections than configured
    # Nothing is left to send: a second run hands nothing over again.
    assert (
        send_due(_config(smtp_sink), engine, utcnow()).sent == 0 and len(smtp_sink.messages) == 200
    )


def test_sent_mark_is_committed_before_a_connection_takes_its_next_reply(
    engine, smtp_sink, database_url
):
    """What bounds the resend window after a kill (SPEC §9): while the server takes a reply it is
    claimed (`sending`, committed), and by the time the same connection starts its next reply the
    previous one is `sent` in the database (seen through another connection, so committed)."""
    queued = _queue(engine, 120)
    watcher = db.make_engine(database_url)
    at_data, at_next, last_on = {}, {}, {}

    def state(message_id):
        with watcher.connect() as conn:
            return conn.execute(
                select(Outbox.state).where(Outbox.message_id == message_id)
            ).scalar()

    async def mail(original, server, session, envelope, *args):
        if session.peer in last_on:
            previous = last_on[session.peer]
            at_next[previous] = state(previous)
        return await original(server, session, envelope, *args)

    async def data(original, server, session, envelope):
        message_id = email.message_from_bytes(envelope.content, policy=policy.default)["Message-ID"]
        at_data[message_id] = state(message_id)
        last_on[session.peer] = message_id
        return await original(server, session, envelope)

    _hook(smtp_sink, "MAIL", mail)
    _hook(smtp_sink, "DATA", data)
    try:
        report = send_due(_config(smtp_sink, connections=4), engine, utcnow())
    finally:
        watcher.dispose()

    assert report.sent == 120 and set(at_data) == set(queued)
    assert set(at_data.values()) == {"sending"}
    assert len(at_next) >= 120 - 4 and set(at_next.values()) == {"sent"}
    assert {row.state for row in _rows(engine).values()} == {"sent"}


def test_refused_replies_are_counted_and_marked_while_the_rest_go_out(engine, smtp_sink):
    def recipient(n):
        return f"{'gone' if n % 5 == 0 else 'busy' if n % 7 == 0 else 'ops'}{n}@xingxing.example.cn"

    queued = _queue(engine, 80, recipient)
    gone = {mid for mid, to in queued.items() if to.startswith("gone")}
    busy = {mid for mid, to in queued.items() if to.startswith("busy")}
    good = set(queued) - gone - busy

    async def rcpt(original, server, session, envelope, address, options):
        if address.startswith("gone"):
            return "550 5.1.1 No such user"
        if address.startswith("busy"):
            return "451 4.3.0 Try again later"
        return await original(server, session, envelope, address, options)

    _hook(smtp_sink, "RCPT", rcpt)

    report = send_due(_config(smtp_sink, connections=4), engine, utcnow())

    assert (report.sent, report.failed, len(report.errors)) == (
        len(good),
        len(gone) + len(busy),
        len(gone) + len(busy),
    )
    assert {e.split(":")[0] for e in report.errors} == {f"reply {mid}" for mid in gone | busy}
    assert _received(smtp_sink) == Counter(dict.fromkeys(good, 1))
    rows = _rows(engine)
    assert {(rows[m].state, rows[m].attempts) for m in good} == {("sent", 1)}
    assert all(
        rows[m].state == "failed"
        and rows[m].attempts == 1
        and rows[m].next_attempt_at is None
        and rows[m].last_error.startswith("SMTP 550")
        for m in gone
    )  # permanent: never retried
    assert all(
        rows[m].state == "failed"
        and rows[m].attempts == 1
        and rows[m].next_attempt_at > utcnow()
        and rows[m].last_error.startswith("SMTP 451")
        for m in busy
    )  # retried after the backoff

    # The server accepts the busy ones later: they go out once, the refused ones stay failed.
    delattr(smtp_sink._controller.handler, "handle_RCPT")
    _make_due(engine)
    report = send_due(_config(smtp_sink, connections=4), engine, utcnow())
    assert (report.sent, report.failed) == (len(busy), 0)
    assert _received(smtp_sink) == Counter(dict.fromkeys(good | busy, 1))
    assert {mid for mid, row in _rows(engine).items() if row.state != "sent"} == gone


def test_server_unreachable_stops_the_drain_and_loses_nothing(engine, smtp_sink):
    smtp_sink.stop()
    queued = _queue(engine, 60)

    report = send_due(_config(smtp_sink, connections=4), engine, utcnow())

    # The first reply goes alone: one connection says the server is down; no reply is charged
    # an attempt (SPEC §9a), every one stays queued and due.
    assert report.sent == 0 and report.failed == 0
    assert report.errors and all("cannot reach SMTP server" in e for e in report.errors)
    rows = _rows(engine)
    assert Counter(row.state for row in rows.values()) == {"queued": 60}
    assert all(r.attempts == 0 and r.claimed_at is None for r in rows.values())

    smtp_sink.start()
    again = send_due(_config(smtp_sink, connections=4), engine, utcnow())
    assert (again.sent, again.failed) == (60, 0)  # no back-off to wait out
    assert _received(smtp_sink) == Counter(dict.fromkeys(queued, 1))
    assert {row.state for row in _rows(engine).values()} == {"sent"}


def test_server_going_away_mid_drain_resends_only_the_replies_in_hand(engine, smtp_sink):
    queued = _queue(engine, 200)
    stopper = []

    async def data(original, server, session, envelope):
        result = await original(server, session, envelope)
        if len(smtp_sink.messages) == 50:
            stopper.append(
                threading.Thread(target=smtp_sink.stop)
            )  # not from the server's own thread
            stopper[0].start()
        if stopper:
            await asyncio.sleep(5)  # the server holds the message and goes away before answering
        return result

    _hook(smtp_sink, "DATA", data)

    first = send_due(_config(smtp_sink, connections=4), engine, utcnow())
    stopper[0].join()
    rows = _rows(engine)
    assert "sending" not in {row.state for row in rows.values()}
    assert first.sent == sum(row.state == "sent" for row in rows.values()) and first.sent < 200
    assert first.failed == sum(row.state == "failed" for row in rows.values()) >= 1
    interrupted = {
        mid
        for mid, row in rows.items()
        if row.state == "failed" and row.last_error.startswith(INTERRUPTED)
    }
    assert 1 <= len(interrupted) <= 4  # at most the one in hand on each connection

    smtp_sink.start()
    for _ in range(3):
        _make_due(engine)
        send_due(_config(smtp_sink, connections=4), engine, utcnow())
    received = _received(smtp_sink)
    # Interrupted during DATA: sent again after the backoff (at least once, SPEC §9). Only those
    # can arrive twice, each time the same message with its own Message-ID.
    assert set(received) == set(queued)
    assert {mid for mid, n in received.items() if n > 1} <= interrupted
    assert max(received.values()) <= 2
    assert {row.state for row in _rows(engine).values()} == {"sent"}


def test_an_error_in_one_sending_thread_reaches_the_caller_and_the_next_run_sends_the_rest(engine):
    """A sender failing unexpectedly (a bug, a database error) stops the drain as it stopped the
    one-connection loop: the error is raised, and the next run sends the rest, each once, and the
    reply in hand at the failure again (it may have reached the server: at least once)."""
    queued = _queue(engine, 40)
    delivered, crashed = Counter(), []
    lock, crash = threading.Lock(), threading.Event()

    def deliver(raw, recipients):
        crash.wait(
            10
        )  # each other thread holds one reply until the crash, so the test is repeatable
        with lock:
            delivered[_message_id(raw)] += 1

    def crashing(raw, recipients):
        crashed.append(_message_id(raw))
        crash.set()
        raise RuntimeError("boom after DATA began")

    with pytest.raises(RuntimeError, match="boom"):
        send_stage.drain(engine, [crashing, deliver, deliver, deliver], utcnow())
    (victim,) = crashed
    assert len(delivered) <= 3  # the others finished the reply in hand and took no other
    first = len(delivered)
    assert _rows(engine)[victim].state == "sending"  # left as a kill would leave it

    report = send_stage.drain(engine, [deliver, deliver], utcnow())
    rows = _rows(engine)
    assert delivered == Counter(dict.fromkeys(queued, 1))
    assert (report.sent, report.failed) == (40 - first, 0)
    assert {row.state for row in rows.values()} == {"sent"}
    assert rows[victim].attempts == 1


@pytest.mark.parametrize(
    "value,ok",
    [
        ("4", True),
        ("1", True),
        ("10", True),
        ("0", False),
        ("11", False),
        ('"4"', False),
        ("2.5", False),
        ("true", False),
    ],
)
def test_connections_setting(value, ok):
    text = f'[outgoing]\nkind = "smtp"\nhost = "127.0.0.1"\nconnections = {value}\n'
    if ok:
        assert parse_config(text).outgoing.connections == int(value)
    else:
        with pytest.raises(
            ConfigError, match=r"\[outgoing\]: connections must be a whole number from 1 to 10"
        ):
            parse_config(text)
    assert parse_config("").outgoing.connections == 4
