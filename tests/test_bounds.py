"""Bounded work (SPEC §9): batches cut by bytes as well as count, and a 状态 line read in one pass.

The figures (peak memory of a poll over forty 31.5 MB emails, the time of a 1 MB 状态 line) are
measured by tests/bench/bench_bounds.py; these tests keep the behaviour.
"""

from __future__ import annotations

import time

import pytest
from sqlmodel import select

from ingest.config import MailboxSettings
from ingest.reading.fields import choose_status, extract_fields
from ingest.sources import batches
from ingest.store import db
from ingest.store.models import Message, Ticket
from tests.desk import Desk

MB = 1024 * 1024


def sizes(cut_batches) -> list[list[int]]:
    return [[n for n in batch] for batch in cut_batches]


def test_batches_end_at_the_count_or_the_byte_budget_whichever_first():
    small = [1] * 7
    assert sizes(batches.cut(small, int, count=3, budget=100)) == [[1, 1, 1], [1, 1, 1], [1]]
    # By bytes: 40 + 40 fits 100, a third would not.
    assert sizes(batches.cut([40] * 5, int, count=50, budget=100)) == [[40, 40], [40, 40], [40]]
    # An email larger than the budget is a batch of its own, never dropped or split.
    cut = batches.cut([10, 300, 10, 10], int, count=50, budget=100)
    assert sizes(cut) == [[10], [300], [10, 10]]
    # Exactly the budget ends the batch.
    assert sizes(batches.cut([50, 50, 1], int, count=50, budget=100)) == [[50, 50], [1]]
    assert sizes(batches.cut([], int, count=3, budget=100)) == []


def test_batches_are_cut_lazily_and_stop_after_the_batch_at_hand():
    taken = []

    def stream():
        for n in range(100):
            taken.append(n)
            yield 40

    first = next(batches.cut(stream(), int, count=50, budget=100))
    assert first == [40, 40] and len(taken) == 3  # the budget held: one email beyond, not all 100
    stopping = []
    out = []
    for batch in batches.cut([1] * 10, int, count=2, budget=100, stop=lambda: bool(stopping)):
        out.append(batch)
        stopping.append(True)
    assert out == [[1, 1]]


def _big_mail(n: int, size: int) -> bytes:
    """A complete ticket with a large base64 attachment (a phone's photos), about `size` bytes."""
    body = (
        "运营商：星星充电\n订单号：20261124081644614873\n问题描述：扫码后无法启动\n"
        "运营商初步排查结果：已重启\n"
    )
    head = (
        f"From: ops{n}@xingxing.example.cn\r\nTo: support@gongdan.example.cn\r\n"
        f"Subject: =?utf-8?b?5pWF6Zqc?= {n}\r\nMessage-ID: <big{n}@xingxing.example.cn>\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    photo = (
        "--b\r\nContent-Type: image/jpeg; name=p.jpg\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    line = b"/9j/4AAQSkZJRgABAQEASABIAAD" * 2 + b"\r\n"
    data = head.encode() + body.replace("\n", "\r\n").encode() + b"\r\n" + photo.encode()
    return data + line * ((size - len(data)) // len(line)) + b"--b--\r\n"


def test_a_poll_of_large_emails_in_byte_bounded_batches_stores_them_all(tmp_path, monkeypatch):
    from ingest.desk import poll

    monkeypatch.setattr(poll, "BATCH_BYTES", 3 * MB)  # each ~2 MB email is a batch of its own
    cut = []
    original = batches.cut

    def watched(items, size, count, budget=batches.BUDGET, stop=lambda: False):
        for batch in original(items, size, count, budget, stop):
            cut.append(sum(size(i) for i in batch))
            yield batch

    monkeypatch.setattr(batches, "cut", watched)
    desk = Desk(tmp_path, f"sqlite:///{tmp_path}/gongdan.db")
    inbox = desk.inbox
    mails = [_big_mail(n, 2 * MB) for n in range(4)]
    for n, raw in enumerate(mails):
        desk.deliver(raw, f"{1700000000 + n}.M{n}.big")
    desk.poll()

    assert len(cut) == 4 and max(cut) < 3 * MB  # one email a batch: never all of them at once
    engine = db.open_database(f"sqlite:///{tmp_path}/gongdan.db")
    try:
        with db.session(engine) as session:
            incoming = session.exec(select(Message).where(Message.direction == "in"))
            stored = sorted(bytes(m.raw) for m in incoming)
            tickets = list(session.exec(select(Ticket)))
    finally:
        engine.dispose()
    assert stored == sorted(mails)  # every byte of every email
    assert len(tickets) == 4 and all(t.complete for t in tickets)
    assert sorted(p.name for p in (inbox / "new").iterdir()) == []  # all taken


def test_imap_fetches_large_mail_in_byte_bounded_commands(dovecot, dovecot_user):
    from ingest.sources.imap import ImapSource

    user, password = dovecot_user
    mails = [_big_mail(n, 1 * MB) for n in range(5)]
    for raw in mails:
        dovecot.append(user, raw)
    settings = MailboxSettings(
        name="support",
        kind="imap",
        host="127.0.0.1",
        port=dovecot.port,
        security="plain",
        username=user,
        folder="INBOX",
    )
    source = ImapSource(settings, password)
    source.connect()
    try:
        asked = []
        client_fetch = source._client.fetch

        def fetch(uids, items, *args, **kwargs):
            if "BODY.PEEK[]" in items:
                asked.append(list(uids))
            return client_fetch(uids, items, *args, **kwargs)

        source._client.fetch = fetch
        got = list(source.fetch(source.new_uids(0), batch=50, budget=int(2.5 * MB)))
    finally:
        source.close()
    assert [raw for _, raw in got] == mails  # all of them, in order, exact
    assert [len(chunk) for chunk in asked] == [2, 2, 1]  # 2.5 MB holds two 1 MB emails, not fifty


@pytest.mark.parametrize(
    "unit,expected",
    [
        ("☑ 已解决 ", "resolved"),
        ("☑", None),
        ("已解决☑", "resolved"),
        ("[x] ", None),
        ("☑ 处理中 | ", "in_progress"),
    ],
)
def test_a_1_mb_status_line_is_read_in_one_pass(unit, expected):
    line = "状态: " + unit * (MB // len(unit.encode()))
    began = time.perf_counter()
    fields = extract_fields(line)
    took = time.perf_counter() - began
    # Quadratic, 128 KB of `☑ 已解决 ` took seconds; one pass takes well under 0.2 s here.
    assert took < 2.0, f"{took:.2f} s"
    assert fields == ({"status": expected} if expected else {})


def test_status_marks_still_choose_as_before():
    assert choose_status("☑ 已解决 | 处理中 | 暂搁置") == "resolved"
    assert choose_status("已解决 | 处理中 ✔ | 暂搁置") == "in_progress"
    assert choose_status("已解决 ☑ ☑ 暂搁置") is None  # two options chosen
    assert choose_status("☑ ☑ 处理中") == "in_progress"
    assert choose_status("☑已解决☑处理中") is None
    assert choose_status("已解决 | 处理中 | 暂搁置") is None
