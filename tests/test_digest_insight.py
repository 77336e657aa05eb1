"""What the digest adds (SPEC §12): repeat faults, engineers' response times and SLA, the 14-day
chart, reply links, per-engineer digests and the HTML as Chromium draws it, on tickets stored
as the poll cycle stores them, with times set to known values."""

from __future__ import annotations

import email
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, date, datetime, timedelta
from email import policy
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from sqlmodel import select

from ingest.config import Engineer
from ingest.store import db
from ingest.store.models import Message, Outbox, Ticket, TicketEvent
from ingest.store.tickets import store_and_commit
from replies.digest import collect, render, run_digest, send_now
from tests.clock import utcnow
from tests.conftest import make_mail
from tests.test_digest import MailHTML, make_config

NOW = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # 09:00 in Beijing
ENGINEER = "xiaoming@gongdan.example.cn"
SUPPORT = "support@gongdan.example.cn"
P1, P2 = "35010400080000200015", "35010400080000200016"


_orders = iter(range(10, 100))


def body(station: str, pile: str = "", codes: str = "", complete: bool = True) -> str:
    text = f"运营商：星星充电\n桩站名称：{station}\n订单号：202611240816446148{next(_orders)}\n"
    text += f"充电桩号：{pile}\n" if pile else ""
    text += f"问题描述：充电中途停止{'，停止原因：' + codes if codes else ''}\n"
    return text + ("运营商初步排查结果：已重启无效\n" if complete else "")


# name: (hours before NOW it was opened, body, hours before NOW an engineer first answered,
# how: "状态" a 状态 line, "plain" a mail without one, "" never)
TICKETS = {
    "a": (20, body("望京站", P1, "34"), 19, "状态"),  # 1 h
    "b": (20, body("望京站", P1, "34"), 18, "状态"),  # 2 h
    "c": (10, body("望京站", P1, "34、9"), 7, "状态"),  # 3 h
    "d": (30, body("望京站", P2), 20, "状态"),  # 10 h, answered in the period
    "e": (8, body("酒仙桥站", P2), 4, "plain"),  # 4 h, a mail that changes nothing
    "f": (40, body("酒仙桥站"), 30, "plain"),  # answered before the period
    "g": (30, body("大望路站"), None, ""),  # waiting 30 h: past the 24 h SLA
    "h": (5, body("大望路站"), None, ""),  # waiting 5 h
    "i": (50, body("大望路站", complete=False), None, ""),  # waits for the operator
    "old": (40 * 24, body("望京站", P1, "34"), 40 * 24 - 1, "已解决"),  # before the 30 days
}


@pytest.fixture
def history(engine, database_url):
    """The tickets above, stored through the desk; returns their ids by name."""
    config = make_config(database_url)
    ids = {}
    with db.session(engine) as session:
        for name, (opened, text, _, _) in TICKETS.items():
            mail = make_mail(text, subject=f"故障 {name}", message_id=f"<{name}@xx.example.cn>")
            ids[name] = store_and_commit(session, mail, config, now=utcnow()).ticket_id
            ticket = session.get(Ticket, ids[name])
            ticket.created_at = ticket.updated_at = NOW - timedelta(hours=opened)
            session.add(ticket)
            session.commit()
        for name, (_, _, answered, how) in TICKETS.items():
            if how:
                answer(session, config, ids[name], NOW - timedelta(hours=answered), how)
        # The ticket answered before the period is resolved three hours into the period.
        answer(session, config, ids["f"], NOW - timedelta(hours=21), "已解决")
    return ids


def answer(session, config, ticket_id: int, at: datetime, how: str) -> None:
    """An engineer's mail on the ticket's thread, stored as received at `at`."""
    text = "收到，正在排查。\n"
    if how != "plain":
        status = "☑ 已解决 | 处理中" if how == "已解决" else "已解决 | ☑ 处理中"
        text = (
            f"---跟踪\n已联系运营商\n\n状态(☑表示选定 ): {status} | 暂搁置\n"
            "售后(跟单)工程师: 小明\n"
        )
    before = {e.id for e in session.exec(select(TicketEvent))}
    mail = make_mail(
        text,
        subject=f"[工单#{ticket_id}] 回复",
        sender=ENGINEER,
        message_id=f"<{ticket_id}.{at:%Y%m%d%H%M}@gd.cn>",
    )
    stored = store_and_commit(session, mail, config, now=utcnow())
    assert stored.ticket_id == ticket_id and stored.engineer is not None
    message = session.get(Message, stored.message_db_id)
    message.received_at = message.sent_at = at  # written and received at `at`
    session.add(message)
    for event in session.exec(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)):
        if event.id not in before:
            event.at = at
            session.add(event)
    session.commit()


def test_an_imported_engineer_reply_counts_at_its_own_time(engine, history, database_url):
    """An engineer's reply read late (an import, a mailbox read again) counts at the time it was
    written, as its ticket's creation does: not as a reply within the period."""
    config = make_config(database_url)
    with db.session(engine) as session:
        ticket_id = history["h"]  # opened 5 h before NOW, no engineer reply yet
        answer(session, config, ticket_id, NOW - timedelta(hours=3), "plain")
        message = session.exec(select(Message).order_by(Message.id.desc())).first()
        message.received_at = NOW + timedelta(hours=5)  # read long after it was written
        session.add(message)
        session.commit()
    response = data_of(engine)["response"]
    assert response["answered"] == 6  # a, b, c, d, e, and h: answered 2 h after it was opened
    assert ticket_id not in [w["id"] for w in response["waiting"]]


def test_a_forged_engineer_s_mail_is_no_answer(engine, history, database_url):
    """Mail flagged as a forged engineer's (SPEC §6a) answers nothing: its ticket still waits
    for an engineer, and no response time is counted for it (both databases read the flag)."""
    config = make_config(database_url)
    with db.session(engine) as session:
        answer(session, config, history["h"], NOW - timedelta(hours=3), "plain")
        message = session.exec(select(Message).order_by(Message.id.desc())).first()
        message.flags = ["outside_thread", "forged_engineer"]
        session.add(message)
        session.commit()
    response = data_of(engine)["response"]
    assert response["answered"] == 5  # a, b, c, d and e, as without that mail
    assert history["h"] in [w["id"] for w in response["waiting"]]


def rows_of(engine, model):
    with db.session(engine) as session:
        return list(session.exec(select(model).order_by(model.id)))


def data_of(engine, **kw):
    with db.session(engine) as session:
        return collect(
            session.connection(),
            NOW - timedelta(hours=24),
            NOW,
            engineer_addresses=[ENGINEER],
            **kw,
        )


def test_repeat_faults_most_frequent_first_within_the_window(engine, history):
    rows = data_of(engine)["repeat_faults"]["rows"]
    found = [(r["kind"], r["name"], r["count"], r["tickets"]) for r in rows]
    ids = history
    assert found == [
        ("station", "望京站", 4, sorted(ids[n] for n in "abcd")),
        ("pile", P1, 3, sorted(ids[n] for n in "abc")),
        ("station", "大望路站", 3, sorted(ids[n] for n in "ghi")),
        ("code", "34 紧急停机", 3, sorted(ids[n] for n in "abc")),
    ]
    # The station's tickets with their codes and meanings; two tickets on a pile is no repeat.
    assert rows[0]["codes"] == ["34 紧急停机", "9 桩与汽车握手异常"]
    assert P2 not in {r["name"] for r in rows}


def test_repeat_threshold_and_window_are_settings(engine, history, database_url):
    config = make_config(database_url)
    config.digest.repeat_threshold, config.digest.repeat_window = 4, "60d"
    rows = data_of(engine, settings=config.digest)["repeat_faults"]["rows"]
    # Sixty days reach the old ticket: the pile and the code now have four tickets too.
    assert [(r["kind"], r["name"], r["count"]) for r in rows] == [
        ("station", "望京站", 5),
        ("pile", P1, 4),
        ("code", "34 紧急停机", 4),
    ]


def test_response_times_median_p90_and_the_tickets_past_the_sla(engine, history):
    response = data_of(engine)["response"]
    # First replies in the period: 1, 2, 3, 10 and 4 hours. Sorted 1 2 3 4 10: the median is 3 h;
    # p90 sits at 0.9 x 4 = 3.6 places: 4 h + 0.6 x (10 h - 4 h) = 7 h 36 min.
    assert response["answered"] == 5
    assert response["median"] == timedelta(hours=3)
    assert response["p90"] == timedelta(hours=7, minutes=36)
    assert (response["median_label"], response["p90_label"]) == ("3小时", "7小时")
    # Never answered, oldest first; the one waiting for the operator is not the engineers' turn.
    waiting = [(w["id"], w["wait_label"], w["over_sla"]) for w in response["waiting"]]
    assert waiting == [(history["g"], "1天6小时", True), (history["h"], "5小时", False)]
    assert response["waiting_total"] == 2 and response["over_sla"] == 1


def test_fourteen_days_of_opened_and_resolved(engine, history):
    days = data_of(engine)["daily"]
    assert len(days) == 14 and days[0]["day"] == date(2026, 11, 17)
    assert days[-1]["day"] == date(2026, 11, 30)  # NOW is 09:00 on the 30th in Beijing
    by_day = {
        d["day"].day: (d["opened"], d["resolved"]) for d in days if d["opened"] or d["resolved"]
    }
    # Opened (Beijing time): f 11-28 17:00, i 11-28 07:00; a b d g c on the 29th; e h on the 30th.
    # f resolved at 11-29 07:00.
    assert by_day == {28: (2, 0), 29: (5, 1), 30: (2, 0)}


def reply_link(href: str) -> tuple[str, str, str]:
    """(address, subject, body) of a mailto: link, decoded as a mail client does."""
    parts = urlsplit(href)
    assert parts.scheme == "mailto"
    query = parse_qs(parts.query, keep_blank_values=True)
    return unquote(parts.path), query["subject"][0], query["body"][0]


def test_rendered_sections_in_html_and_text(engine, history):
    subject, text, html = render(data_of(engine), support_address=SUPPORT)
    page = MailHTML(html)
    repeats = page.tables["repeats"]
    assert repeats[0] == ["类别", "名称", "工单数", "工单", "停止代号及含义"]
    assert repeats[1][:3] == ["桩站", "望京站", "4"] and repeats[2][:3] == ["充电桩", P1, "3"]
    assert repeats[4][4] == "34 紧急停机"
    assert f"#{history['a']}" in repeats[1][3] and f"#{history['d']}" in repeats[1][3]
    assert page.tables["response"][1] == ["5", "3小时", "7小时", "1"]
    waiting = page.tables["waiting"]
    assert waiting[1][0] == f"#{history['g']}" and waiting[1][4] == "1天6小时（超时）"
    assert waiting[2][4] == "5小时"
    highlighted = [a for tag, a in page.tags if tag == "tr" and a.get("data-over-sla")]
    assert len(highlighted) == 1 and "#fef2f2" in highlighted[0]["style"]
    daily = {row[0]: row[-1] for row in page.tables["daily"]}
    assert len(daily) == 14 and daily["11-29 周日"] == "新建 5 · 解决 1"
    assert daily["11-17 周二"] == "新建 0 · 解决 0"

    assert f"  桩站      望京站                4 个工单：#{history['a']} " in text
    assert f"  停止代号  34 紧急停机           3 个工单：#{history['a']} " in text
    assert "超过24小时未回复      1" in text
    assert f"⚠ 工单#{history['g']}  已等待1天6小时（超时）" in text
    assert "首次回复用时中位数    3小时" in text and "90% 在此时间内        7小时" in text
    assert "11-29 周日  新建 ▇▇▇▇▇▇▇▇▇▇▇▇   5   解决 ▇▇             1" in text


def test_each_open_ticket_links_to_a_prefilled_reply(engine, history, database_url):
    _, text, html = render(data_of(engine), support_address=SUPPORT)
    page = MailHTML(html)
    links = {a["href"]: a for tag, a in page.tags if tag == "a" and a["href"].startswith("mailto:")}
    with db.session(engine) as session:
        open_ids = {t.id for t in session.exec(select(Ticket).where(Ticket.status != "resolved"))}
    assert len(links) == len(open_ids) == 8  # all but f and old, resolved
    by_ticket = {}
    for href in links:
        address, subject, body_text = reply_link(href)
        assert address == SUPPORT and subject.startswith("[工单#")
        by_ticket[int(subject[4 : subject.index("]")])] = (subject, body_text)
        assert href in text  # the plain-text part carries the same link
    assert set(by_ticket) == open_ids
    subject, body_text = by_ticket[history["a"]]
    assert subject == f"[工单#{history['a']}] 故障 a"
    assert body_text == (
        "---答复\r\n\r\n\r\n---跟踪\r\n\r\n\r\n状态(☑表示选定 ): 已解决 | ☑ 处理中 | 暂搁置\r\n\r\n"
        "售后(跟单)工程师: 小明\r\n"
    )
    # Waiting for the operator: no status ticked, no engineer yet.
    assert "☑ " not in by_ticket[history["i"]][1].split("状态", 1)[1]

    # Two clicks: the engineer ticks 已解决, writes a line under ---跟踪 and sends.
    written = body_text.replace("\r\n", "\n").replace("---跟踪\n", "---跟踪\n重启后恢复\n", 1)
    written = written.replace("已解决 | ☑ 处理中", "☑ 已解决 | 处理中")
    with db.session(engine) as session:
        mail = make_mail(written, subject=subject, sender=ENGINEER, message_id="<click@gd.cn>")
        stored = store_and_commit(session, mail, make_config(database_url), now=utcnow())
        ticket = session.get(Ticket, history["a"])
        assert stored.ticket_id == history["a"]
        assert ticket.status == "resolved" and "重启后恢复" in ticket.tracking


def test_per_engineer_digests_put_their_tickets_first(engine, history, database_url, smtp_sink):
    config = make_config(database_url, smtp_sink.port)
    config.engineers.append(Engineer("小红", "xiaohong@gongdan.example.cn"))
    config.digest.per_engineer = True
    summary = run_digest(
        config, engine, since=timedelta(hours=24), dry_run=False, out=None, now=NOW
    )
    assert summary["engineers"] == [ENGINEER, "xiaohong@gongdan.example.cn"]
    assert len(summary["outbox_ids"]) == 3
    report = send_now(config, engine, utcnow())
    assert report.sent == 3 and not report.errors
    mails = {}
    for received in smtp_sink.messages:
        mail = email.message_from_bytes(received.data, policy=policy.default)
        mails[tuple(sorted(received.rcpt_tos))] = mail
    common = mails[("aftersales@gongdan.example.cn", "lead@gongdan.example.cn")]
    own = mails[(ENGINEER,)]
    other = mails[("xiaohong@gongdan.example.cn",)]
    assert own["Subject"].startswith("售后工单日报（小明） ")
    assert other["Subject"].startswith("售后工单日报（小红） ")
    # 小明's tickets (those his 状态 mails assigned: a b c d) lead his digest, oldest first.
    mine = [history[n] for n in ("d", "a", "b", "c")]  # opened 30, 20, 20 and 10 hours before
    own_rows = MailHTML(own.get_body(("html",)).get_content()).tables["open"][1:]
    assert [r[0] for r in own_rows[:4]] == [f"#{t}" for t in mine]
    common_rows = MailHTML(common.get_body(("html",)).get_content()).tables["open"][1:]
    assert [r[0] for r in common_rows][0] == f"#{history['i']}"  # the oldest open ticket
    own_text = own.get_body(("plain",)).get_content()
    assert f"★ 工单#{mine[0]}" in own_text and "指派给小明的 4 个在前" in own_text
    # 小红 has none: her links take the ticket for her.
    other_html = other.get_body(("html",)).get_content()
    hrefs = [a["href"] for t, a in MailHTML(other_html).tags if t == "a"]
    assert hrefs and all(reply_link(h)[2].endswith("售后(跟单)工程师: 小红\r\n") for h in hrefs)
    assert summary["period_end"] == NOW.isoformat()
    assert [o.kind for o in rows_of(engine, Outbox)] == ["digest"] * 3


def test_per_engineer_digests_without_recipients_go_to_the_engineers_alone(
    engine, history, database_url
):
    """With per_engineer and no [digest] recipients, each engineer gets their own digest and
    there is no common one (no mail to nobody, none twice)."""
    config = make_config(database_url, digest=False)
    config.digest.per_engineer = True
    summary = run_digest(
        config, engine, since=timedelta(hours=24), dry_run=False, out=None, now=NOW
    )
    outbox = rows_of(engine, Outbox)
    assert [o.to_addresses for o in outbox] == [[ENGINEER]]
    assert summary["engineers"] == [ENGINEER] and len(summary["outbox_ids"]) == 1


def test_now_is_the_digest_s_clock(engine, history, database_url):
    later = NOW + timedelta(days=2)
    summary = run_digest(
        make_config(database_url), engine, since=None, dry_run=True, out=None, now=later
    )
    assert summary["period_start"] == (later - timedelta(hours=24)).isoformat()
    with db.session(engine) as session:
        data = collect(session.connection(), later - timedelta(hours=24), later)
    ages = {t["id"]: t["age"] for t in data["open_tickets"]}
    assert ages[history["h"]] == "2天5小时"
    assert data["daily"][-1]["day"] == date(2026, 12, 2)


def test_digest_command_now(tmp_path):
    from click.testing import CliRunner

    from ingest.cli.main import cli

    config = tmp_path / "gongdan.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{tmp_path}/g.db"\n'
        '[[engineer]]\nname = "小明"\naddress = "xiaoming@gongdan.example.cn"\n',
        "utf-8",
    )
    run = lambda *a: CliRunner().invoke(cli, ["--config", str(config), *a])  # noqa: E731
    assert run("db", "upgrade").exit_code == 0
    result = run("digest", "--dry-run", "--now", "2026-11-30T09:00+08:00")
    assert result.exit_code == 0, result.output
    assert "售后工单日报 2026-11-29 09:00 至 2026-11-30 09:00" in result.output
    for bad in ("2026-11-30T09:00", "tomorrow"):
        refused = run("digest", "--dry-run", "--now", bad)
        assert refused.exit_code == 2 and "--now" in refused.output and "zone" in refused.output


CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
]


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """(width, height, the decompressed scanlines) of a PNG, read with the standard library."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    chunks, at = [], 8
    while at < len(data):
        (size,) = struct.unpack(">I", data[at : at + 4])
        kind = data[at + 4 : at + 8]
        if kind == b"IDAT":
            chunks.append(data[at + 8 : at + 8 + size])
        at += 12 + size
    return width, height, zlib.decompress(b"".join(chunks))


@pytest.mark.servers  # starts Chromium: not the fast tier
@pytest.mark.skipif(
    CHROMIUM is None,
    reason="Chromium not found: install it with scripts/install-test-servers.sh "
    "(apt-get install chromium fonts-noto-cjk)",
)
def test_chromium_draws_the_digest(engine, history, tmp_path):
    """The HTML digest as a browser draws it: produced, and not blank."""
    _, _, html = render(data_of(engine), support_address=SUPPORT)
    assert 'data-table="repeats"' in html and "mailto:" in html
    page, shot = tmp_path / "digest.html", tmp_path / "digest.png"
    page.write_text(html, "utf-8")
    subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=820,2000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    data = shot.read_bytes()
    width, height, pixels = png_pixels(data)
    assert (width, height) == (820, 2000)
    # A blank page compresses to almost nothing and holds a handful of byte values.
    assert len(data) > 50_000 and len(set(pixels)) > 100


def test_a_period_is_read_through_indexes_not_the_whole_history(tmp_path):
    """The digest and the monthly review find a period's answers and resolutions through the
    time and ticket indexes: no statement of theirs reads every message or every event, which
    at 100,000 tickets is most of the database (SQLite's plans, which no data changes)."""
    from sqlalchemy import event

    from ingest.store.review_queries import by_engineer

    url = f"sqlite:///{tmp_path}/plans.db"
    db.upgrade(url)
    engine = db.open_database(url)
    statements = []
    event.listen(
        engine,
        "before_cursor_execute",
        lambda conn, cursor, sql, params, *_: statements.append((sql, params)),
    )
    try:
        with db.session(engine) as session:
            collect(
                session.connection(), NOW - timedelta(hours=24), NOW, engineer_addresses=[ENGINEER]
            )
            by_engineer(session.connection(), NOW - timedelta(days=30), NOW, [ENGINEER])
        raw = engine.raw_connection()
        try:
            scans = [
                (detail, " ".join(sql.split())[:120])
                for sql, params in statements
                for *_, detail in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
                if detail.startswith(("SCAN message", "SCAN ticketevent"))
            ]
        finally:
            raw.close()
    finally:
        engine.dispose()
    assert len(statements) > 10 and not scans, scans
