"""`gongdan import`, `tickets list` and `tickets show` as an admin runs them."""

import json
import mailbox
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli.main import cli
from tests.conftest import make_mail

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "fixtures" / "emails"
DEMO = ROOT / "demo" / "inbox"


@pytest.fixture
def gongdan(tmp_path, database_url):
    config = tmp_path / "gongdan.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n', "utf-8")

    def run(*args):
        return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)

    return run


def ticket_count(gongdan) -> int:
    return len(gongdan("tickets", "list", "--json").output.splitlines())


def test_commands_refuse_an_unmigrated_database(gongdan):
    result = gongdan("tickets", "list")
    assert result.exit_code == 1
    assert result.output.strip().endswith("run `gongdan db upgrade`")
    assert len(result.output.strip().splitlines()) == 1


def test_importing_the_corpus_twice_gives_the_same_tickets(gongdan):
    assert gongdan("db", "upgrade").exit_code == 0
    corpus = [str(p) for p in (CORPUS, DEMO) if p.exists()]
    first = gongdan("import", *corpus)
    assert first.exit_code == 0, first.output
    tickets = ticket_count(gongdan)
    assert tickets >= 4
    second = gongdan("import", *corpus)
    assert "0 new tickets, 0 follow-ups" in second.output
    assert ticket_count(gongdan) == tickets


def test_mbox_and_maildir_with_thread_and_summary(gongdan, tmp_path):
    gongdan("db", "upgrade")
    box = mailbox.mbox(tmp_path / "backup.mbox")
    box.add(make_mail("运营商：星星充电\n问题描述：充不上电", message_id="<b1@x.example.cn>"))
    box.add(
        make_mail(
            "运营商初步排查结果：已重启\n订单号：20261124081644614873",
            subject="Re: 充电桩故障",
            message_id="<b2@x.example.cn>",
            in_reply_to="<b1@x.example.cn>",
        )
    )
    box.flush()
    maildir = mailbox.Maildir(tmp_path / "old-inbox")
    maildir.add(
        make_mail("运营商：绿能", message_id="<b3@x.example.cn>", sender="a@lvneng.example.cn")
    )
    maildir.add(b"\x00\x01\x02 not mail")
    result = gongdan("import", str(tmp_path / "backup.mbox"), str(tmp_path / "old-inbox"))
    assert result.output.strip() == (
        "4 emails: 2 new tickets, 1 follow-ups, 0 duplicates skipped, "
        "1 unreadable (stored and flagged)"
    )
    listed = [json.loads(line) for line in gongdan("tickets", "list", "--json").output.splitlines()]
    assert [t["status"] for t in listed] == ["in_progress", "waiting_info"]
    assert [
        json.loads(x)["id"]
        for x in gongdan("tickets", "list", "--json", "--operator", "绿能").output.splitlines()
    ] == [2]
    assert gongdan("tickets", "list", "--json", "--status", "resolved").output == ""
    shown = json.loads(gongdan("tickets", "show", "1", "--json").output)
    assert [m["message_id"] for m in shown["messages"]] == [
        "<b1@x.example.cn>",
        "<b2@x.example.cn>",
    ]
    assert shown["fields"]["order_no"] == "20261124081644614873" and shown["complete"]
    assert [e["kind"] for e in shown["events"]] == ["field_set", "field_set", "completed"]
    table = gongdan("tickets", "show", "1").output
    assert "星星充电" in table and "处理中" in table
    assert gongdan("tickets", "show", "99").exit_code == 1


def test_two_maildirs_in_one_import_each_give_their_own_mail(gongdan, tmp_path):
    gongdan("db", "upgrade")
    for n in (1, 2):
        box = mailbox.Maildir(tmp_path / f"box{n}")
        box.add(
            make_mail(
                f"运营商：运营商{n}",
                message_id=f"<two{n}@x.example.cn>",
                sender=f"ops@op{n}.example.cn",
            )
        )
    result = gongdan("import", str(tmp_path / "box1"), str(tmp_path / "box2"))
    assert "2 new tickets" in result.output
    listed = [
        json.loads(line)["operator_address"]
        for line in gongdan("tickets", "list", "--json").output.splitlines()
    ]
    assert listed == ["ops@op1.example.cn", "ops@op2.example.cn"]


def test_a_maildir_is_imported_in_delivery_order_from_new_and_cur(gongdan, tmp_path):
    """Maildir names count deliveries (Q9 before Q10), whether a mail client left a mail in
    new/ or moved and flagged it into cur/: the reply comes after the mail it answers and joins
    its ticket."""
    gongdan("db", "upgrade")
    box = tmp_path / "old-inbox"
    for folder in ("new", "cur", "tmp"):
        (box / folder).mkdir(parents=True)
    (box / "cur" / "1764000000.M1P7Q9.host:2,S").write_bytes(
        make_mail("运营商：星星充电\n问题描述：充不上电", message_id="<q9@x.example.cn>")
    )
    (box / "new" / "1764000000.M1P7Q10.host").write_bytes(
        make_mail(
            "订单号：20261124081644614873",
            subject="Re: 充电桩故障",
            message_id="<q10@x.example.cn>",
            in_reply_to="<q9@x.example.cn>",
        )
    )
    result = gongdan("import", str(box))
    assert "2 emails: 1 new tickets, 1 follow-ups" in result.output
    shown = json.loads(gongdan("tickets", "show", "1", "--json").output)
    assert [m["message_id"] for m in shown["messages"]] == [
        "<q9@x.example.cn>",
        "<q10@x.example.cn>",
    ]


def test_mail_with_nul_in_headers_and_a_brand_without_table_store_on_every_database(
    gongdan, tmp_path
):
    """PostgreSQL text cannot hold NUL: every header value is cleaned when read (SPEC §3a), so
    the import finishes and the mail is stored; a code of a brand without a table (meaning null)
    is stored too."""
    gongdan("db", "upgrade")
    maildir = mailbox.Maildir(tmp_path / "inbox")
    maildir.add(
        b"From: =?utf-8?B?546L5belAA==?= <wang@ops.example.cn>\r\n"
        b"To: support@desk.example.cn\r\n"
        b"Subject: \xb3\xe4\xb5\xe7\x00\xd7\xae\xb9\xca\xd5\xcf\r\n"  # raw GBK 充电\0桩故障
        b"Message-ID: <nul.1@ops.example.cn>\r\n"
        b"Content-Type: text/plain; charset=gbk\r\n"
        b"\r\n" + "运营商：云能充\r\n问题描述：桩站离线\r\n".encode("gbk")
    )
    maildir.add((CORPUS / "h12_brand_without_table.eml").read_bytes())
    result = gongdan("import", str(tmp_path / "inbox"))
    assert result.exit_code == 0, result.output
    assert "2 new tickets" in result.output and "0 unreadable" in result.output
    listed = {
        t["subject"]: t
        for t in map(json.loads, gongdan("tickets", "list", "--json").output.splitlines())
    }
    assert set(listed) == {"充电桩故障", "特来电桩 停止原因：41"}
    shown = json.loads(gongdan("tickets", "show", str(listed["充电桩故障"]["id"]), "--json").output)
    assert shown["messages"][0]["message_id"] == "<nul.1@ops.example.cn>"
    assert [
        (c["vendor"], c["code"], c["known"]) for c in listed["特来电桩 停止原因：41"]["stop_codes"]
    ] == [
        ("特来电", 41, False),
        ("sinexcel", 41, True),
    ]
    # A brand without a table has no meaning: null, not "" (SPEC §5).
    assert listed["特来电桩 停止原因：41"]["stop_codes"][0]["meaning"] is None
    digest = tmp_path / "digest.html"
    gongdan("digest", "--dry-run", "--since", "24h", "--out", str(digest))
    assert "41（特来电，无代号表）" in digest.read_text("utf-8")


def test_last_months_mail_imported_today_is_not_new_and_keeps_its_age(
    gongdan, tmp_path, monkeypatch
):
    """A ticket's created_at is its first mail's own Date (SPEC §12's ages and periods): an
    import of mail sent 40 days ago is 40 days old, and the next digest does not count it new."""
    gongdan("db", "upgrade")
    sent = datetime.now(UTC) - timedelta(days=40)
    maildir = mailbox.Maildir(tmp_path / "old")
    for n in range(3):
        maildir.add(
            make_mail(
                "运营商：星星充电\n问题描述：充不上电",
                subject=f"旧故障 {n}",
                message_id=f"<old{n}@x.example.cn>",
                date=format_datetime(sent - timedelta(hours=n)),
            )
        )
    # Sent today, and one whose Date is a year ahead (a wrong clock): both are new today.
    maildir.add(make_mail("问题描述：今天的", subject="今天", message_id="<new@x.example.cn>"))
    ahead = format_datetime(datetime.now(UTC) + timedelta(days=365))
    maildir.add(
        make_mail("问题描述：时钟错", subject="时钟", message_id="<c@x.example.cn>", date=ahead)
    )
    assert gongdan("import", str(tmp_path / "old")).exit_code == 0
    listed = {
        t["subject"]: datetime.fromisoformat(t["created_at"])
        for t in map(json.loads, gongdan("tickets", "list", "--json").output.splitlines())
    }
    for n in range(3):
        assert abs(listed[f"旧故障 {n}"] - (sent - timedelta(hours=n))) < timedelta(seconds=1)
    assert datetime.now(UTC) - listed["时钟"] < timedelta(minutes=5)  # arrival, not the Date
    monkeypatch.setenv("COLUMNS", "200")  # a terminal wide enough not to fold the ages
    assert gongdan("tickets", "list").output.count("40天") == 3
    digest = gongdan("digest", "--dry-run", "--since", "24h", "--out", str(tmp_path / "d.html"))
    assert ": 2 new," in digest.output
    page = (tmp_path / "d.html").read_text("utf-8")
    assert page.count("40天") == 3  # still open: listed with their real age


def test_a_backfill_tells_postgresql_the_size_of_what_it_filled(
    gongdan, tmp_path, database_url, monkeypatch
):
    """After the first batches of an import PostgreSQL's planner knows the tables' size (an
    ANALYZE), so the duplicate check uses its index instead of scanning `message`; SQLite needs
    none. The import reads its sources as it goes: a missing path is still said first."""
    from ingest.desk import importer
    from ingest.store import db

    monkeypatch.setattr(importer, "ANALYZE_AT", (150,))
    assert gongdan("db", "upgrade").exit_code == 0
    box = mailbox.Maildir(tmp_path / "old", create=True)
    for n in range(220):
        box.add(
            make_mail(f"运营商：星星充电\n问题描述：{n}号桩充不上电", message_id=f"<a{n}@x.cn>")
        )
    missing = gongdan("import", str(tmp_path / "old"), str(tmp_path / "nope"))
    assert missing.exit_code != 0 and "nope" in missing.output
    assert ticket_count(gongdan) == 0  # nothing stored before the mistake was said
    result = gongdan("import", str(tmp_path / "old"))
    assert result.exit_code == 0 and result.output.startswith("220 emails: 220 new tickets")
    if not database_url.startswith("postgresql"):
        return
    engine = db.make_engine(database_url)
    try:
        with engine.connect() as conn:
            # The planner's row estimate: set by ANALYZE (db upgrade's left it at an empty table).
            planned = conn.exec_driver_sql(
                "SELECT reltuples FROM pg_class WHERE relname = 'message'"
            ).scalar_one()
    finally:
        engine.dispose()
    assert planned >= 150
