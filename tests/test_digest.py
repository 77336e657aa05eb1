"""The engineers' digest: counts, open tickets and charts from stored mail, sent through the
outbox."""

from __future__ import annotations

import email
from datetime import timedelta
from email import policy
from html.parser import HTMLParser

import pytest
from sqlmodel import select

from ingest.config import parse_config
from ingest.store import db, insight_queries
from ingest.store.digest_queries import stop_code_hits
from ingest.store.models import Digest, Outbox, Ticket, TicketEvent
from ingest.store.tickets import store_and_commit
from replies.digest import collect, parse_since, render, run_digest, send_now
from tests.clock import utcnow
from tests.conftest import make_mail

PHONE, MASKED = "13512348382", "135****8382"

# Complete, with a phone in the station and the description, and a stop code.
WANGJING = (
    "运营商：星星充电\n桩站名称：望京站 联系人13512348382\n订单号：20261124081644614873\n"
    f"问题描述：扫码后无法启动，车主电话{PHONE}，停止原因：34\n运营商初步排查结果：已重启无效\n"
)
# Incomplete: waits for the operator.
TELD = "运营商：特来电\n问题描述：3号桩充不上电，停止原因：2\n"
# Complete; an engineer puts it on hold.
HOLD = (
    "运营商：星星充电\n订单号：20261124091644614873\n问题描述：充电中途停止，停止原因：34、9\n"
    "运营商初步排查结果：桩端正常\n"
)
# Complete; an engineer resolves it.
BILL = (
    "运营商：蔚景云\n订单号：20261124101644614873\n问题描述：账单金额不对\n"
    "运营商初步排查结果：已核对\n"
)

RECIPIENTS = ["aftersales@gongdan.example.cn", "lead@gongdan.example.cn"]


def make_config(
    database_url: str, smtp_port: int = 2525, digest: bool = True, engineers: bool = True
):
    text = f"""
[database]
url = "{database_url}"

[outgoing]
kind = "smtp"
host = "127.0.0.1"
port = {smtp_port}
security = "plain"
from_address = "support@gongdan.example.cn"
"""
    if engineers:
        text += '\n[[engineer]]\nname = "小明"\naddress = "xiaoming@gongdan.example.cn"\n'
    if digest:
        text += f"\n[digest]\nrecipients = {RECIPIENTS!r}\n".replace("'", '"')
    return parse_config(text)


@pytest.fixture
def desk(engine, database_url):
    """Four tickets as the poll cycle would store them; returns their ids by name."""
    config = make_config(database_url)
    with db.session(engine) as session:

        def put(body, name, **kw):
            stored = store_and_commit(
                session,
                make_mail(body, message_id=f"<{name}@xingxing.example.cn>", **kw),
                config,
                now=utcnow(),
            )
            assert stored.outcome == "new_ticket"
            return stored.ticket_id

        ids = {
            "wangjing": put(WANGJING, "wangjing", subject="扫码无法启动"),
            "teld": put(TELD, "teld", sender="ops@teld.example.cn"),
            "hold": put(HOLD, "hold"),
            "bill": put(BILL, "bill", sender="ops@wjy.example.cn"),
        }
        now = utcnow()
        # The incomplete one came in three days ago and nobody touched it since.
        teld = session.get(Ticket, ids["teld"])
        teld.created_at = teld.updated_at = now - timedelta(days=3, hours=4, minutes=5)
        hold = session.get(Ticket, ids["hold"])
        hold.status, hold.engineer, hold.updated_at = "on_hold", "小明", now
        bill = session.get(Ticket, ids["bill"])
        bill.status, bill.engineer, bill.updated_at = "resolved", "小明", now
        session.add_all([teld, hold, bill])
        for ticket_id, old, new in (
            (ids["hold"], "in_progress", "on_hold"),
            (ids["bill"], "in_progress", "resolved"),
        ):
            session.add(
                TicketEvent(
                    ticket_id=ticket_id,
                    kind="status_changed",
                    by="xiaoming@gongdan.example.cn",
                    detail={"old": old, "new": new},
                    at=now,
                )
            )
        session.commit()
    statuses = {t.id: t.status for t in rows(engine, Ticket)}
    assert [statuses[ids[k]] for k in ("wangjing", "teld", "hold", "bill")] == [
        "in_progress",
        "waiting_info",
        "on_hold",
        "resolved",
    ]
    return ids


def rows(engine, model):
    with db.session(engine) as session:
        return list(session.exec(select(model).order_by(model.id)))


class MailHTML(HTMLParser):
    """The parts of the digest a reader sees: tagged tables' rows, the charts' bars, every tag
    used."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.bars: dict[str, list[str]] = {}
        self.counts: dict[str, str] = {}
        self._stack: list[dict] = []  # open tables
        self._cell: dict | None = None
        self.feed(html)

    def _owner(self, kind: str) -> str | None:
        return next((t[kind] for t in reversed(self._stack) if t.get(kind)), None)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "table":
            self._stack.append({"table": attrs.get("data-table"), "chart": attrs.get("data-chart")})
            if attrs.get("data-table"):
                self.tables[attrs["data-table"]] = []
            if attrs.get("data-chart"):
                self.bars[attrs["data-chart"]] = []
        elif tag == "tr" and self._stack and self._stack[-1]["table"]:
            self.tables[self._stack[-1]["table"]].append([])
        elif tag in ("td", "th"):
            if self._stack and self._stack[-1]["table"]:
                self.tables[self._stack[-1]["table"]][-1].append("")
            if attrs.get("class") == "bar" and (chart := self._owner("chart")):
                self.bars[chart].append(attrs.get("style", ""))
            self._cell = {"count": attrs.get("data-count")}

    def handle_endtag(self, tag):
        if tag == "table" and self._stack:
            self._stack.pop()
        elif tag in ("td", "th"):
            self._cell = None

    def handle_data(self, data):
        if (
            self._stack
            and self._stack[-1]["table"]
            and self.tables[self._stack[-1]["table"]]
            and self.tables[self._stack[-1]["table"]][-1]
        ):
            self.tables[self._stack[-1]["table"]][-1][-1] += data.strip()
        if self._cell and self._cell["count"] and data.strip():
            self.counts[self._cell["count"]] = data.strip()


def test_collect_counts_open_tickets_and_charts(engine, desk):
    with db.session(engine) as session:
        data = collect(session.connection(), utcnow() - timedelta(hours=24), utcnow())
    assert data["counts"] == {
        "new": 3,
        "waiting_info": 1,
        "in_progress": 1,
        "on_hold": 1,
        "resolved": 1,
    }
    # Oldest first: the three-day-old ticket leads, though it was stored second.
    assert [t["id"] for t in data["open_tickets"]] == [desk["teld"], desk["wangjing"], desk["hold"]]
    teld, wangjing, hold = data["open_tickets"]
    assert (
        teld["age"] == "3天4小时"
        and teld["status_label"] == "待补充信息"
        and teld["operator"] == "特来电"
    )
    assert (
        wangjing["station"] == f"望京站 联系人{MASKED}"
        and wangjing["order_no"] == "20261124081644614873"
    )
    assert wangjing["stop_codes"] == ["34 紧急停机"] and wangjing["status_label"] == "处理中"
    assert hold["engineer"] == "小明" and hold["status_label"] == "暂搁置"
    # Stop codes of the tickets active in the period: the untouched old ticket's code 2 is not
    # among them.
    assert data["stop_code_chart"] == [
        {"label": "紧急停机 (34)", "count": 2},
        {"label": "桩与汽车握手异常 (9)", "count": 1},
    ]
    assert data["operator_chart"] == [
        {"label": "星星充电", "count": 2},
        {"label": "特来电", "count": 1},
        {"label": "蔚景云", "count": 1},
    ]
    assert PHONE not in repr(data)


def test_more_tickets_than_one_statement_can_name_are_read_whole(engine, desk):
    # A big desk's window of tickets is more values than one IN (...) may list (PostgreSQL takes
    # 65,535): at a million tickets the digest failed on the 91,322 opened in its window.
    many = [*range(10**6, 10**6 + 70_000), desk["wangjing"], desk["teld"]]
    with engine.connect() as conn:
        hits = stop_code_hits(conn, many)
        created = insight_queries.created_at(conn, many)
    assert [(h.ticket_id, h.code) for h in hits] == [(desk["wangjing"], 34), (desk["teld"], 2)]
    assert sorted(created) == sorted([desk["wangjing"], desk["teld"]])


def test_rendered_html_and_text_as_a_mail_client_shows_them(engine, desk):
    with db.session(engine) as session:
        data = collect(session.connection(), utcnow() - timedelta(hours=24), utcnow())
    subject, text, html = render(data)
    assert subject.startswith("售后工单日报 ") and " 至 " in subject

    page = MailHTML(html)
    assert page.counts == {
        "new": "3",
        "waiting_info": "1",
        "in_progress": "1",
        "on_hold": "1",
        "resolved": "1",
    }
    assert page.tables["counts"][0] == [
        "本期新建",
        "等待运营商补充信息",
        "处理中",
        "暂搁置",
        "本期解决",
    ]
    header, *open_rows = page.tables["open"]
    # Each row says what the ticket is about (问题, SPEC §13), beside its number.
    titles = ["工单", "问题", "运营商", "桩站", "订单号", "已过", "状态", "工程师", "停止代号"]
    assert header == titles
    assert [r[0] for r in open_rows] == [
        f"#{desk['teld']}",
        f"#{desk['wangjing']}",
        f"#{desk['hold']}",
    ]
    assert open_rows[0][5] == "3天4小时" and open_rows[2][7] == "小明"
    assert open_rows[1][3] == f"望京站 联系人{MASKED}"
    assert all(r[1] for r in open_rows)  # the description's first words, else the subject
    # Two bar charts whose bars are sized inline, widest for the largest count.
    assert set(page.bars) == {"stop_codes", "operators"}
    assert "width:100%" in page.bars["stop_codes"][0] and "width:50%" in page.bars["stop_codes"][1]
    assert all("background:#" in style for bars in page.bars.values() for style in bars)
    assert len(page.bars["operators"]) == 3
    # Nothing a mail client would strip or block.
    names = {tag for tag, _ in page.tags}
    assert not names & {"script", "style", "link", "iframe", "object", "img"}
    assert not any(a.get("src", "").startswith("http") for _, a in page.tags)
    assert "<script" not in html.lower()

    for number in (desk["teld"], desk["wangjing"], desk["hold"]):
        assert f"工单#{number}" in text
    assert "等待运营商补充信息  1" in text and "本期新建            3" in text
    assert "紧急停机 (34)" in text and "██████████████████████████████ 2" in text
    assert PHONE not in html and PHONE not in text and MASKED in html and MASKED in text


def test_run_digest_queues_it_and_send_now_delivers_it(engine, desk, database_url, smtp_sink):
    config = make_config(database_url, smtp_sink.port)
    summary = run_digest(
        config, engine, since=timedelta(hours=24), dry_run=False, out=None, now=utcnow()
    )
    assert summary["counts"]["new"] == 3 and summary["recipients"] == RECIPIENTS
    (queued,) = rows(engine, Outbox)
    assert (queued.id, queued.kind, queued.state, queued.to_addresses) == (
        summary["outbox_id"],
        "digest",
        "queued",
        RECIPIENTS,
    )
    (digest,) = rows(engine, Digest)
    assert digest.period_end.isoformat() == summary["period_end"]

    report = send_now(config, engine, utcnow())
    assert report.sent == 1 and not report.errors
    (received,) = smtp_sink.messages
    assert sorted(received.rcpt_tos) == sorted(RECIPIENTS)
    mail = email.message_from_bytes(received.data, policy=policy.default)
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Subject"] == summary["subject"] and mail["Auto-Submitted"] == "auto-generated"
    assert [a.addr_spec for a in mail["To"].addresses] == RECIPIENTS
    plain, html = mail.get_body(("plain",)).get_content(), mail.get_body(("html",)).get_content()
    assert f"工单#{desk['wangjing']}" in plain and 'data-chart="operators"' in html
    assert PHONE not in plain and PHONE not in html and PHONE.encode() not in received.data
    assert rows(engine, Outbox)[0].state == "sent"


def test_next_digest_starts_where_the_last_ended(engine, desk, database_url):
    config = make_config(database_url)
    first = run_digest(config, engine, since=None, dry_run=False, out=None, now=utcnow())
    with db.session(engine) as session:
        later = store_and_commit(
            session,
            make_mail(
                "问题描述：2号桩离线",
                subject="桩离线",
                sender=f"{PHONE}@139.com",
                message_id="<later@139.com>",
            ),
            config,
            now=utcnow(),
        ).ticket_id
    second = run_digest(config, engine, since=None, dry_run=False, out=None, now=utcnow())

    assert second["period_start"] == first["period_end"]
    assert first["counts"]["new"] == 3 and second["counts"]["new"] == 1
    assert second["counts"]["resolved"] == 0 and second["counts"]["waiting_info"] == 2
    first_mail, second_mail = (
        email.message_from_bytes(o.raw, policy=policy.default) for o in rows(engine, Outbox)
    )
    first_text = first_mail.get_body(("plain",)).get_content()
    second_text = second_mail.get_body(("plain",)).get_content()
    assert f"工单#{later}" not in first_text and f"工单#{later}" in second_text
    # A sender address made of a phone number is masked where it stands in for the operator.
    assert f"{MASKED}@139.com" in second_text and PHONE not in second_text
    periods = [(d.period_start.isoformat(), d.period_end.isoformat()) for d in rows(engine, Digest)]
    assert periods[1][0] == periods[0][1]


def test_dry_run_writes_the_file_and_queues_nothing(engine, desk, database_url, tmp_path):
    out = tmp_path / "digest.html"
    summary = run_digest(
        make_config(database_url),
        engine,
        since=timedelta(hours=24),
        dry_run=True,
        out=str(out),
        now=utcnow(),
    )
    assert summary["outbox_id"] is None and summary["counts"]["new"] == 3
    page = MailHTML(out.read_text("utf-8"))
    assert page.counts["new"] == "3" and set(page.bars) == {"stop_codes", "operators"}
    assert rows(engine, Outbox) == [] and rows(engine, Digest) == []


def test_recipients_fall_back_to_engineers_and_none_is_an_error(engine, database_url):
    summary = run_digest(
        make_config(database_url, digest=False),
        engine,
        since=None,
        dry_run=False,
        out=None,
        now=utcnow(),
    )
    assert (
        summary["recipients"] == ["xiaoming@gongdan.example.cn"] and summary["counts"]["new"] == 0
    )
    with pytest.raises(ValueError, match="no digest recipients"):
        run_digest(
            make_config(database_url, digest=False, engineers=False),
            engine,
            since=None,
            dry_run=False,
            out=None,
            now=utcnow(),
        )
    assert len(rows(engine, Outbox)) == 1


@pytest.mark.parametrize(
    "text,expected",
    [
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("90min", timedelta(minutes=90)),
        (" 2w ", timedelta(weeks=2)),
    ],
)
def test_parse_since(text, expected):
    assert parse_since(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "0h", "1y", "-3d", "1.5h"])
def test_parse_since_rejects_with_what_it_expects(text):
    with pytest.raises(ValueError, match=r"--since: expected .*24h"):
        parse_since(text)


def test_digest_command_dry_run_and_bad_since(tmp_path):
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
    result = run("digest", "--dry-run", "--out", str(tmp_path / "d.html"))
    assert result.exit_code == 0 and "0 new" in result.output
    assert "<table" in (tmp_path / "d.html").read_text("utf-8")
    bad = run("digest", "--since", "soon")
    assert bad.exit_code == 2 and "--since" in bad.output


def test_a_ticket_only_automatic_mail_opened_is_left_out(engine, database_url):
    config = make_config(database_url)
    with db.session(engine) as session:
        store_and_commit(
            session,
            make_mail(
                "我正在休假。",
                subject="自动回复: 你好",
                message_id="<ooo@x.example.cn>",
                headers={"Auto-Submitted": "auto-replied"},
            ),
            config,
            now=utcnow(),
        )
        store_and_commit(
            session,
            make_mail("运营商：星星充电\n问题描述：充不上电", message_id="<real@x.example.cn>"),
            config,
            now=utcnow(),
        )
        now = utcnow()
        data = collect(session.connection(), now - timedelta(hours=1), now + timedelta(minutes=1))
    assert data["counts"]["new"] == 1 and data["counts"]["waiting_info"] == 1
    assert [t["operator"] for t in data["open_tickets"]] == ["星星充电"]
