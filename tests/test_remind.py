"""Reminders and on-hold notices (SPEC §12): a real Dovecot, aiosmtpd, SQLite or PostgreSQL.

Time passes as `gongdan remind --now` says; for mail that must have arrived on an earlier day,
the stored times are moved back (`days_ago`), as make_due does in tests/faults.py.
"""

from __future__ import annotations

import email
import email.utils
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email import policy
from email.utils import format_datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from ingest.cli.main import cli
from ingest.config import ConfigError, parse_config, parse_duration
from ingest.desk import remind as remind_step
from ingest.desk.remind import Waiting, follow_up
from ingest.reading.display_words import span_zh
from ingest.store import db
from ingest.store.models import Message, Outbox, Ticket, TicketEvent
from replies import render
from tests.conftest import make_mail
from tests.desk import INCOMPLETE, STANDARD, Desk, imap_desk

TIMES = {
    Message: ("received_at", "date"),
    Outbox: ("created_at", "next_attempt_at", "sent_at", "claimed_at"),
    Ticket: ("created_at", "updated_at"),
    TicketEvent: ("at",),
}


def days_ago(desk: Desk, days: float) -> None:
    """Everything stored so far happened `days` earlier."""
    delta = timedelta(days=days)
    engine = db.make_engine(desk.url)
    try:
        with engine.begin() as conn:
            for model, names in TIMES.items():
                table = model.__table__
                columns = [table.c[n] for n in names]
                for row in conn.execute(select(table.c.id, *columns)).all():
                    values = {n: v - delta for n, v in zip(names, row[1:], strict=True) if v}
                    if values:
                        conn.execute(update(table).where(table.c.id == row[0]).values(**values))
    finally:
        engine.dispose()


def iso(moment: datetime) -> str:
    return moment.isoformat()


def make_desk(tmp_path, dovecot, user, smtp, url, desk_table: str = "") -> Desk:
    return imap_desk(tmp_path, dovecot, user, smtp, url, extra=f"\n[desk]\n{desk_table}")


def remind(desk: Desk, now: datetime) -> str:
    result = desk.gongdan("remind", "--now", iso(now))
    assert result.exit_code == 0, result.output
    return result.output


def mails(desk: Desk) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(m.data, policy=policy.default) for m in desk.smtp.messages]


def by_kind(desk: Desk, kind: str) -> dict[int, list[str]]:
    """ticket -> Message-IDs of the outbox rows of `kind`."""
    engine = db.make_engine(desk.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(Outbox.ticket_id, Outbox.message_id).where(Outbox.kind == kind)
            ).all()
    finally:
        engine.dispose()
    found: dict[int, list[str]] = {}
    for ticket_id, message_id in rows:
        found.setdefault(ticket_id, []).append(message_id)
    return found


@pytest.fixture
def desk(tmp_path, dovecot, dovecot_user, smtp_sink, database_url):
    return make_desk(tmp_path, dovecot, dovecot_user, smtp_sink, database_url)


def test_a_week_replayed(desk):
    # Day 0: two incomplete tickets, each gets its request_info.
    desk.deliver(
        make_mail(INCOMPLETE, subject="3号桩充不上电", message_id="<a1@xingxing.example.cn>")
    )
    desk.deliver(
        make_mail(
            INCOMPLETE,
            subject="5号桩无法启动",
            sender="ops@yunkuaichong.example.cn",
            message_id="<b1@yunkuaichong.example.cn>",
        )
    )
    desk.deliver(
        make_mail(
            INCOMPLETE,
            subject="7号桩离线",
            sender="ops@tegu.example.cn",
            message_id="<c1@tegu.example.cn>",
        )
    )
    desk.poll()
    requests = {m["In-Reply-To"]: m for m in mails(desk)}
    assert len(requests) == 3 and all(m.get_content().startswith(STANDARD) for m in mails(desk))
    tickets = {t["subject"]: t["id"] for t in desk.tickets()}
    a, b, c = tickets["3号桩充不上电"], tickets["5号桩无法启动"], tickets["7号桩离线"]
    days_ago(desk, 1)
    day0 = datetime.now(UTC) - timedelta(days=1)

    # Day 1: B's operator answers without the missing fields (their answer stops the clock);
    # C's operator adds a field but some are still missing: a new request_info, a new clock.
    b_request = requests["<b1@yunkuaichong.example.cn>"]
    desk.deliver(
        make_mail(
            "收到，我们明天到现场确认后补充。",
            subject=b_request["Subject"],
            sender="ops@yunkuaichong.example.cn",
            message_id="<b2@yunkuaichong.example.cn>",
            in_reply_to=b_request["Message-ID"],
            references=f"<b1@yunkuaichong.example.cn> {b_request['Message-ID']}",
        )
    )
    c_request = requests["<c1@tegu.example.cn>"]
    desk.deliver(
        make_mail(
            "运营商初步排查结果：已重启，仍无法充电\n",
            subject=c_request["Subject"],
            sender="ops@tegu.example.cn",
            message_id="<c2@tegu.example.cn>",
            in_reply_to=c_request["Message-ID"],
        )
    )
    desk.poll()
    assert len(mails(desk)) == 4  # C's second request_info; B's answer changed nothing
    c_second = mails(desk)[-1]
    assert c_second["In-Reply-To"] == "<c2@tegu.example.cn>"

    # Day 1 and a half: nothing is due.
    assert "0 reminders, 0 put on hold" in remind(desk, day0 + timedelta(days=1, hours=12))
    assert len(mails(desk)) == 4

    # Day 2: A, and only A, gets one reminder, threaded and tagged, with what is missing.
    output = remind(desk, day0 + timedelta(days=2, minutes=5))
    assert "1 reminders, 0 put on hold" in output and "1 sent" in output
    assert len(mails(desk)) == 5
    reminder = mails(desk)[-1]
    a_request = requests["<a1@xingxing.example.cn>"]
    assert reminder["To"] == "ops@xingxing.example.cn"
    assert reminder["Subject"] == f"Re: 3号桩充不上电 [工单#{a}]"
    assert reminder["In-Reply-To"] == a_request["Message-ID"]
    assert reminder["References"].split() == ["<a1@xingxing.example.cn>", a_request["Message-ID"]]
    assert reminder["Auto-Submitted"] == "auto-replied"
    assert reminder["Message-ID"] != a_request["Message-ID"]
    body = reminder.get_content()
    assert f"[工单#{a}]" in body and "尚未收到回复" in body
    assert "运营商初步排查结果 —— 未填写" in body and "订单号(必填) —— 未填写" in body
    assert "订单号(必填)" in body  # the blank detailed template (a charging ticket)
    assert "暂搁置" in body  # says what happens without an answer

    # The same day again, and later: no second reminder.
    remind(desk, day0 + timedelta(days=2, hours=1))
    remind(desk, day0 + timedelta(days=2, hours=20))
    assert len(mails(desk)) == 5

    # Day 3: C's clock started on day 1 with its second request: its reminder now, on that one.
    remind(desk, day0 + timedelta(days=3, minutes=5))
    assert len(mails(desk)) == 6
    c_reminder = mails(desk)[-1]
    assert c_reminder["To"] == "ops@tegu.example.cn"
    assert c_reminder["In-Reply-To"] == c_second["Message-ID"]
    c_body = c_reminder.get_content()
    assert "运营商初步排查结果 —— 未填写" not in c_body and "订单号(必填) —— 未填写" in c_body

    # Day 7: A moves to on hold, with a notice and an event in its history. Nobody else moves.
    output = remind(desk, day0 + timedelta(days=7, minutes=5))
    assert "0 reminders, 1 put on hold" in output
    assert len(mails(desk)) == 7
    notice = mails(desk)[-1]
    assert notice["To"] == "ops@xingxing.example.cn"
    assert notice["In-Reply-To"] == a_request["Message-ID"]
    assert f"[工单#{a}]" in notice["Subject"] and "暂搁置" in notice.get_content()
    assert "仍缺少：订单号(必填)、运营商初步排查结果" in notice.get_content()
    assert "充电桩号:" not in notice.get_content()  # short: no blank template this time
    shown = desk.show(a)
    assert shown["status"] == "on_hold"
    held = [e for e in shown["events"] if e["kind"] == "status_changed"]
    assert held and held[-1]["by"] == "gongdan" and held[-1]["detail"]["new"] == "on_hold"
    assert desk.show(b)["status"] == "waiting_info" and desk.show(c)["status"] == "waiting_info"

    # Day 8: C's turn; A stays on hold and hears nothing more; B never heard anything.
    remind(desk, day0 + timedelta(days=8, minutes=5))
    remind(desk, day0 + timedelta(days=9))
    assert desk.show(c)["status"] == "on_hold"
    received = Counter(m["To"] for m in mails(desk))
    assert received == {
        "ops@xingxing.example.cn": 3,  # request, reminder, notice
        "ops@tegu.example.cn": 4,  # two requests, reminder, notice
        "ops@yunkuaichong.example.cn": 1,  # the request only
    }


def test_no_reminder_to_automatic_senders_nor_beyond_the_daily_limit(
    tmp_path, dovecot, dovecot_user, smtp_sink, database_url
):
    desk = make_desk(
        tmp_path,
        dovecot,
        dovecot_user,
        smtp_sink,
        database_url,
        'daily_reply_limit = 3\nremind_after = "10min"\nhold_after = "2d"',
    )
    # Two tickets from one operator, and one from a mailbox that answers by itself.
    for n in (1, 2):
        desk.deliver(
            make_mail(INCOMPLETE, subject=f"{n}号桩故障", message_id=f"<x{n}@xingxing.example.cn>")
        )
    desk.deliver(
        make_mail(
            INCOMPLETE,
            subject="9号桩故障",
            sender="station@tegu.example.cn",
            message_id="<t1@tegu.example.cn>",
        )
    )
    # A ticket opened by an automatic mail: never asked, never reminded.
    desk.deliver(
        make_mail(
            INCOMPLETE,
            subject="系统通知",
            sender="noreply@platform.example.cn",
            message_id="<n1@platform.example.cn>",
            headers={"Auto-Submitted": "auto-generated"},
        )
    )
    desk.poll()
    assert len(mails(desk)) == 3
    request = next(m for m in mails(desk) if m["To"] == "station@tegu.example.cn")
    desk.deliver(
        make_mail(
            "我正在休假，12月10日返回。",
            subject=f"自动回复: {request['Subject']}",
            sender="station@tegu.example.cn",
            message_id="<t2@tegu.example.cn>",
            in_reply_to=request["Message-ID"],
            headers={"Auto-Submitted": "auto-replied"},
        )
    )
    desk.poll()
    assert len(mails(desk)) == 3
    start = datetime.now(UTC)

    # Twenty minutes on: ops@xingxing has had 2 replies today, limit 3: one reminder, the
    # other held back (SPEC §6b: kept `held`, not forgotten).
    output = remind(desk, start + timedelta(minutes=20))
    assert "1 reminders" in output
    assert "1 held back by the daily reply limit" in output
    assert "1 not sent (automatic mail)" in output
    assert [m["To"] for m in mails(desk)[3:]] == ["ops@xingxing.example.cn"]
    held = desk.gongdan("outbox", "list", "--held").output
    assert "提醒" in held and "ops@xingxing.example.cn" in held

    # A day later the held reminder is neither sent nor made again: a person decides.
    remind(desk, start + timedelta(days=1, minutes=30))
    assert [m["To"] for m in mails(desk)[3:]] == ["ops@xingxing.example.cn"]
    assert desk.gongdan("outbox", "release", "--all").exit_code == 0
    assert desk.gongdan("send", "--now", iso(start + timedelta(days=1, minutes=31))).exit_code == 0
    assert [m["To"] for m in mails(desk)[3:]] == ["ops@xingxing.example.cn"] * 2
    assert len({m["Subject"] for m in mails(desk)[3:]}) == 2

    # On hold at the end; the automatic mailbox's ticket too, but its notice is not sent.
    remind(desk, start + timedelta(days=2, minutes=30))
    statuses = {t["subject"]: t["status"] for t in desk.tickets("--all")}
    assert statuses["9号桩故障"] == "on_hold"
    # Never asked: never reminded nor put on hold; stored closed as automatic mail (SPEC §13).
    assert statuses["系统通知"] == "closed"
    assert all(m["To"] != "station@tegu.example.cn" for m in mails(desk)[3:])
    assert all(m["To"] != "noreply@platform.example.cn" for m in mails(desk))
    tegu = next(t["id"] for t in desk.tickets() if t["subject"] == "9号桩故障")
    event = [e for e in desk.show(tegu)["events"] if e["kind"] == "status_changed"][-1]
    assert event["detail"]["notice"] == "not sent: automatic mail"


def _many_waiting(desk: Desk, count: int) -> datetime:
    """`count` incomplete tickets from as many operators, asked for information; their start."""
    for n in range(count):
        desk.deliver(
            make_mail(
                INCOMPLETE,
                subject=f"{n}号桩故障",
                sender=f"ops{n}@xingxing.example.cn",
                message_id=f"<w{n}@xingxing.example.cn>",
            )
        )
    desk.poll()
    assert len(mails(desk)) == count
    return datetime.now(UTC)


def _remind_process(desk: Desk, now: datetime, out=subprocess.PIPE) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "ingest", "--config", str(desk.config), "remind", "--now", iso(now)],
        env=desk.env,
        stdout=out,
        stderr=subprocess.PIPE,
    )


def _strike(proc: subprocess.Popen, log, lines: int) -> int:
    """Wait until the run has logged `lines` lines (one per queued reminder, one per sent one),
    then SIGKILL it; the lines it had logged."""
    deadline = time.monotonic() + 60
    seen = 0
    while proc.poll() is None and time.monotonic() < deadline:
        seen = log.read_bytes().count(b"\n")
        if seen >= lines:
            break
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return seen


def _reminders_received(desk: Desk) -> dict[str, set[str]]:
    """Recipient -> the distinct reminder Message-IDs it received."""
    got: dict[str, set[str]] = {}
    for m in mails(desk):
        if "gongdan.reminder." in m["Message-ID"]:
            got.setdefault(m["To"], set()).add(m["Message-ID"])
    return got


def test_killed_reminder_runs_then_rerun_send_each_reminder_once(desk):
    count = 30
    start = _many_waiting(desk, count)
    rng = random.Random(14)
    struck = []
    for run in range(5):
        log = desk.config.parent / f"remind{run}.out"
        with log.open("wb") as out:
            proc = _remind_process(desk, start + timedelta(days=2, minutes=5), out)
        # Queueing logs a line a ticket, sending one a reminder: strike anywhere in either.
        struck.append(_strike(proc, log, rng.randint(1, 2 * count)))
    assert any(0 < n < 2 * count for n in struck), struck  # some runs were cut in the middle
    remind(desk, start + timedelta(days=2, minutes=10))
    remind(desk, start + timedelta(days=2, minutes=15))
    got = _reminders_received(desk)
    assert set(got) == {f"ops{n}@xingxing.example.cn" for n in range(count)}
    assert all(len(ids) == 1 for ids in got.values()), got  # never two different reminders
    assert all(len(ids) == 1 for ids in by_kind(desk, "reminder").values())
    # At least once (SPEC §9): only a hand-over cut by a kill is sent again, one per kill.
    copies = sum(1 for m in mails(desk) if "gongdan.reminder." in m["Message-ID"]) - count
    assert copies <= 5


def test_two_overlapping_runs_send_each_reminder_once(desk):
    count = 20
    start = _many_waiting(desk, count)
    now = start + timedelta(days=2, minutes=5)
    procs = [_remind_process(desk, now) for _ in range(2)]
    queued = 0
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        queued += out.decode().count(": reminder queued to ")
    assert queued == count  # each queued by one of the two runs
    remind(desk, now)  # anything the two left queued goes out
    got = _reminders_received(desk)
    assert set(got) == {f"ops{n}@xingxing.example.cn" for n in range(count)}
    assert sum(1 for m in mails(desk) if "gongdan.reminder." in m["Message-ID"]) == count
    assert all(len(ids) == 1 for ids in by_kind(desk, "reminder").values())


def test_a_failing_ticket_rolls_back_its_chunk_and_fails_alone(tmp_path, monkeypatch):
    """Tickets are followed up CHUNK at a time, each chunk one transaction. A ticket that fails
    (here its reminder cannot be rendered) rolls its chunk back; the chunk is taken again one
    ticket at a time, with the daily limit's counts as they were before it, so only that ticket
    waits for the next run. No server: a Maildir desk on SQLite, its clock set by --now."""
    desk = Desk(
        tmp_path,
        f"sqlite:///{tmp_path}/gongdan.db",
        extra='[desk]\ndaily_reply_limit = 3\nremind_after = "10min"\nhold_after = "2d"\n',
    )
    day0 = datetime.fromisoformat("2026-03-02T09:00:00+08:00")
    senders = ["ops@xingxing.example.cn"] * 2 + [f"ops{n}@xingxing.example.cn" for n in (3, 4, 5)]
    for n, sender in enumerate(senders, 1):
        desk.deliver(
            make_mail(
                INCOMPLETE,
                subject=f"{n}号桩故障",
                sender=sender,
                message_id=f"<k{n}@xingxing.example.cn>",
                date=format_datetime(day0 - timedelta(minutes=5)),
            )
        )
    assert desk.gongdan("poll", "--now", iso(day0)).exit_code == 0
    ids = {t["subject"]: t["id"] for t in desk.tickets()}
    broken = ids["3号桩故障"]
    render_reminder = render.render_reminder

    def failing(ticket, *args, **kwargs):
        if ticket["id"] == broken:
            raise ValueError("this ticket's reminder cannot be rendered")
        return render_reminder(ticket, *args, **kwargs)

    monkeypatch.setattr(remind_step, "CHUNK", 3)  # tickets 1, 2, 3 in one transaction; 4, 5
    monkeypatch.setattr(render, "render_reminder", failing)
    output = remind(desk, day0 + timedelta(minutes=20))
    # ops@xingxing had two requests today: one reminder fits its limit of 3, the other is held.
    assert "remind: 3 reminders, 0 put on hold" in output and "1 failed" in output
    assert "1 held back by the daily reply limit" in output
    reminded = by_kind(desk, "reminder")
    assert sorted(reminded) == sorted(ids[f"{n}号桩故障"] for n in (1, 2, 4, 5))
    assert all(len(found) == 1 for found in reminded.values())

    monkeypatch.setattr(render, "render_reminder", render_reminder)
    assert "remind: 1 reminders" in remind(desk, day0 + timedelta(minutes=30))
    assert sorted(by_kind(desk, "reminder")) == sorted(ids.values())


# The decision alone (pure): the fast tier.

DAY = timedelta(days=1)
T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "waiting, at, expected",
    [
        (Waiting("waiting_info", False, T0), T0 + 2 * DAY - timedelta(minutes=1), None),
        (Waiting("waiting_info", False, T0), T0 + 2 * DAY, "reminder"),
        (Waiting("waiting_info", False, T0, reminded=True), T0 + 3 * DAY, None),
        (Waiting("waiting_info", False, T0, reminded=True), T0 + 7 * DAY, "hold"),
        (Waiting("waiting_info", False, T0), T0 + 8 * DAY, "hold"),  # no reminder ran: hold
        (Waiting("waiting_info", False, T0, answered=True), T0 + 8 * DAY, None),
        (Waiting("in_progress", False, T0), T0 + 2 * DAY, "reminder"),  # still incomplete
        (Waiting("in_progress", True, T0), T0 + 8 * DAY, None),  # complete
        (Waiting("resolved", False, T0), T0 + 8 * DAY, None),
        (Waiting("on_hold", False, T0), T0 + 8 * DAY, None),
        (Waiting("waiting_info", False, None), T0 + 8 * DAY, None),  # never asked
        (Waiting("waiting_info", False, T0, held=True), T0 + 9 * DAY, None),  # taken off hold
    ],
)
def test_follow_up_decision(waiting, at, expected):
    assert follow_up(waiting, at, 2 * DAY, 7 * DAY) == expected


def test_durations_in_the_config(tmp_path):
    assert parse_duration("2d") == 2 * DAY and parse_duration("36h") == timedelta(hours=36)
    assert parse_duration("90min") == timedelta(minutes=90) and parse_duration("1w") == 7 * DAY
    base = '[database]\nurl = "sqlite:///g.db"\n[desk]\n'
    config = parse_config(base + 'remind_after = "1d"\nhold_after = "3d"\n')
    assert (config.desk.remind_after, config.desk.hold_after) == ("1d", "3d")
    assert parse_config(base).desk.remind_after == "2d"
    for bad, said in [
        ('remind_after = "2 days"', "[desk]: remind_after must be a duration such as"),
        ('hold_after = "0d"', "[desk]: hold_after must be a duration such as"),
        ('remind_after = "8d"', "[desk]: hold_after (7d) must be longer than remind_after (8d)"),
        ("remind_after = 2", "[desk]: remind_after must be text"),
    ]:
        with pytest.raises(ConfigError) as caught:
            parse_config(base + bad + "\n")
        assert said in str(caught.value)


def test_waiting_times_in_the_operators_words():
    assert span_zh(2 * DAY + timedelta(minutes=5)) == "2天"
    assert span_zh(timedelta(hours=36)) == "36小时"
    assert span_zh(timedelta(hours=60)) == "2天12小时"
    assert span_zh(timedelta(minutes=10)) == "10分钟"


def test_remind_now_option():
    for wrong in ("next tuesday", "2026-12-03T09:00:00"):  # no zone: China time or UTC?
        result = CliRunner().invoke(cli, ["remind", "--now", wrong])
        assert result.exit_code == 2 and "ISO-8601 with a zone" in result.output


def test_the_poll_cycle_sends_the_reminders_due_at_its_now(desk):
    """Reminders are a step of every poll cycle; `poll --now` runs them as of another time."""
    desk.deliver(make_mail(INCOMPLETE, subject="5号桩离线", message_id="<p1@xingxing.example.cn>"))
    desk.poll()
    assert len(mails(desk)) == 1  # the request_info
    start = datetime.now(UTC)
    assert desk.gongdan("poll", "--now", iso(start + timedelta(days=1))).exit_code == 0
    assert len(mails(desk)) == 1  # not due yet
    result = desk.gongdan("poll", "--now", iso(start + timedelta(days=2, minutes=5)))
    assert result.exit_code == 0, result.output
    assert "remind: 1 reminders" in result.output
    reminder = mails(desk)[-1]
    assert len(mails(desk)) == 2 and "[工单#1]" in reminder["Subject"]
    assert desk.gongdan("poll", "--now", iso(start + timedelta(days=3))).exit_code == 0
    assert len(mails(desk)) == 2  # once
    refused = desk.gongdan("poll", "--loop", "--now", iso(start))
    assert refused.exit_code == 2 and "--now without --loop" in refused.output


@pytest.mark.parametrize("start", ["2026-03-02T09:00:00+08:00", "2031-06-02T09:00:00+08:00"])
def test_a_week_replayed_with_poll_now_alone(desk, start):
    """One clock (SPEC §13): a week replayed with nothing but `poll --now`, starting in the past
    or in the future, gives the request at day 0, the reminder at day 2 and the hold at day 7 —
    every row it writes is dated by --now, so the follow-ups fall due by it too."""
    day0 = datetime.fromisoformat(start)
    desk.deliver(
        make_mail(
            INCOMPLETE,
            subject="9号桩离线",
            message_id="<w1@xingxing.example.cn>",
            date=format_datetime(day0 - timedelta(minutes=5)),
        )
    )

    def poll_at(moment: datetime) -> str:
        result = desk.gongdan("poll", "--now", iso(moment))
        assert result.exit_code == 0, result.output
        return result.output

    poll_at(day0)
    assert [m["Subject"] for m in mails(desk)] == ["Re: 9号桩离线 [工单#1]"]
    assert email.utils.parsedate_to_datetime(mails(desk)[0]["Date"]) == day0
    for day in (1, 1.9):
        poll_at(day0 + timedelta(days=day))
        assert len(mails(desk)) == 1, f"nothing is due at day {day}"
    assert "remind: 1 reminders" in poll_at(day0 + timedelta(days=2, minutes=1))
    assert len(mails(desk)) == 2 and desk.show(1)["status"] == "waiting_info"
    poll_at(day0 + timedelta(days=6, hours=23))
    assert len(mails(desk)) == 2 and desk.show(1)["status"] == "waiting_info"
    assert "1 put on hold" in poll_at(day0 + timedelta(days=7, minutes=1))
    assert len(mails(desk)) == 3 and desk.show(1)["status"] == "on_hold"
    poll_at(day0 + timedelta(days=8))
    assert len(mails(desk)) == 3  # each once


def test_an_outsider_on_the_thread_neither_stops_the_clock_nor_gets_the_reminder(desk):
    """Attacker's side: someone off the thread answers the request (In-Reply-To it, with the
    ticket's tag and the missing fields). That is no answer from the operator — the reminder
    still goes, to the operator alone. Positive control: the operator's own answer stops it
    (test_a_week_replayed)."""
    desk.deliver(make_mail(INCOMPLETE, subject="7号桩离线", message_id="<o1@xingxing.example.cn>"))
    desk.poll()
    request = mails(desk)[0]
    outsider = make_mail(
        "桩站名称：望京站\n运营商初步排查结果：已重启\n",
        subject=f"Re: {request['Subject']}",
        sender="someone@evil.example.com",
        message_id="<o2@evil.example.com>",
        in_reply_to=request["Message-ID"],
        references=request["Message-ID"],
    )
    desk.deliver(outsider)
    desk.poll()
    assert len(mails(desk)) == 1  # the outsider is not answered
    assert desk.show(1)["status"] == "waiting_info"  # nor did their fields complete the ticket
    result = desk.gongdan("poll", "--now", iso(datetime.now(UTC) + timedelta(days=2, minutes=5)))
    assert result.exit_code == 0, result.output
    reminder = mails(desk)[-1]
    assert len(mails(desk)) == 2 and reminder["To"] == "ops@xingxing.example.cn"
    assert not [m for m in desk.smtp.messages if "someone@evil.example.com" in m.rcpt_tos]
