"""`gongdan stats`: the monthly review's counts by stop code, pile, station and operator (SPEC §12),
from mail stored the real way, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from rich.console import Console
from sqlalchemy import func, select, update

from ingest.cli import stats as stats_cli
from ingest.cli.main import cli
from ingest.config import Config, Engineer
from ingest.store import db
from ingest.store.models import Message, Ticket, TicketEvent
from ingest.store.stats import GROUPINGS, TICKET_KEYS, stats
from ingest.store.tickets import store_and_commit
from tests.clock import utcnow
from tests.conftest import make_mail

ENGINEER = "xiaoming@gongdan.example.cn"
PILE_A, PILE_B, PILE_C = "32010400080000200015", "32010400080000200016", "33040200060000100021"
SINCE, UNTIL = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)


def ticket_mail(n: int, codes: str, operator="星星充电", station="苏州园区星港站", pile=PILE_A):
    body = "".join(
        f"{label}：{value}\n"
        for label, value in (("运营商", operator), ("桩站名称", station), ("充电桩号", pile))
        if value
    )
    return make_mail(
        body + f"问题描述：充电中途停止，停止原因：{codes}\n",
        subject=f"充电故障 {n}",
        message_id=f"<s{n}@xingxing.example.cn>",
    )


class Desk:
    """Mail stored as the poll cycle stores it, each at the time the test says it arrived."""

    def __init__(self, engine):
        self.engine = engine
        self.config = Config()
        self.config.engineers = [Engineer("小明", ENGINEER)]

    def store(self, when: str, raw: bytes):
        at = datetime.fromisoformat(when).replace(tzinfo=UTC)
        with db.session(self.engine) as session:
            last_event = session.exec(select(func.max(TicketEvent.id))).one()[0] or 0
            stored = store_and_commit(session, raw, self.config, now=utcnow())
            session.exec(
                update(Message)
                .where(Message.id == stored.message_db_id)
                .values(received_at=at, sent_at=at)
            )
            session.exec(update(TicketEvent).where(TicketEvent.id > last_event).values(at=at))
            if stored.outcome == "new_ticket":
                session.exec(
                    update(Ticket)
                    .where(Ticket.id == stored.ticket_id)
                    .values(created_at=at, updated_at=at)
                )
            session.commit()
        return stored


def seed(desk: Desk) -> None:
    """November 2026 at one station, with a ticket from before, one after, and an autoreply."""
    desk.store("2026-10-20T09:00", ticket_mail(1, "34"))  # open since October
    desk.store("2026-11-05T09:00", ticket_mail(2, "34、47"))  # resolved on 11-20
    desk.store(  # October's ticket: a new code in November
        "2026-11-08T09:00",
        make_mail(
            "又停了，停止原因：9",
            subject="Re: 充电故障 1",
            message_id="<s1b@xingxing.example.cn>",
            in_reply_to="<s1@xingxing.example.cn>",
        ),
    )
    desk.store("2026-11-10T09:00", ticket_mail(3, "34", pile=PILE_B))
    desk.store(
        "2026-11-15T09:00",
        ticket_mail(4, "10", operator="展鹏达", station="平湖中泰站", pile=PILE_C),
    )
    desk.store(  # no operator, station or pile written: counted by the sender's address
        "2026-11-16T09:00",
        make_mail(
            "问题描述：停止原因：34",
            subject="桩不工作",
            sender="a@lvneng.example.cn",
            message_id="<s5@lvneng.example.cn>",
        ),
    )
    desk.store(  # an out-of-office that opened a ticket of its own: nobody's work
        "2026-11-18T09:00",
        make_mail(
            "我休假了。停止原因：34",
            subject="自动回复",
            sender="robot@xingxing.example.cn",
            message_id="<s6@xingxing.example.cn>",
            headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    desk.store(
        "2026-11-20T09:00",
        make_mail(
            "状态: ☑ 已解决 | 处理中\n售后(跟单)工程师: 小明",
            subject="Re: 充电故障 2",
            sender=ENGINEER,
            message_id="<e1@gongdan.example.cn>",
            in_reply_to="<s2@xingxing.example.cn>",
        ),
    )
    desk.store("2026-11-25T09:00", ticket_mail(7, "34"))
    desk.store(  # December: outside the window
        "2026-12-03T09:00",
        ticket_mail(8, "10", operator="展鹏达", station="平湖中泰站", pile=PILE_C),
    )


@pytest.fixture
def seeded(engine):
    seed(Desk(engine))
    return engine


def counted(engine, by, since=SINCE, until=UNTIL):
    with engine.connect() as conn:
        return stats(conn, by, since, until)


def ticket_row(key, opened, resolved, open_, hits, top, meaning, by, median=None):
    """A row by pile, station or operator; `median`: hours to resolve those resolved."""
    return {
        by: key,
        "opened": opened,
        "resolved": resolved,
        "open": open_,
        "stop_code_hits": hits,
        "top_code": top,
        "top_code_vendor": "sinexcel",
        "top_code_meaning": meaning,
        "resolution_median_hours": median,
    }


def test_counts_for_every_grouping_in_the_window(seeded):
    assert counted(seeded, "code") == [
        {
            "code": 34,
            "vendor": "sinexcel",
            "meaning": "紧急停机",
            "hits": 4,
            "tickets": 4,
            "piles": 2,
        },
        {
            "code": 9,
            "vendor": "sinexcel",
            "meaning": "桩与汽车握手异常",
            "hits": 1,
            "tickets": 1,
            "piles": 1,
        },
        {
            "code": 10,
            "vendor": "sinexcel",
            "meaning": "汽车电池管理主动停止",
            "hits": 1,
            "tickets": 1,
            "piles": 1,
        },
        {
            "code": 47,
            "vendor": "sinexcel",
            "meaning": "充电电流异常",
            "hits": 1,
            "tickets": 1,
            "piles": 1,
        },
    ]
    assert counted(seeded, "pile") == [
        ticket_row(PILE_A, 2, 1, 2, 4, 34, "紧急停机", "pile", 360.0),
        ticket_row(PILE_B, 1, 0, 1, 1, 34, "紧急停机", "pile"),
        ticket_row(PILE_C, 1, 0, 1, 1, 10, "汽车电池管理主动停止", "pile"),
        ticket_row(None, 1, 0, 1, 1, 34, "紧急停机", "pile"),  # no pile written: last
    ]
    assert counted(seeded, "station") == [
        ticket_row("苏州园区星港站", 3, 1, 3, 5, 34, "紧急停机", "station", 360.0),
        ticket_row("平湖中泰站", 1, 0, 1, 1, 10, "汽车电池管理主动停止", "station"),
        ticket_row(None, 1, 0, 1, 1, 34, "紧急停机", "station"),
    ]
    assert counted(seeded, "operator") == [
        ticket_row("星星充电", 3, 1, 3, 5, 34, "紧急停机", "operator", 360.0),
        ticket_row("a@lvneng.example.cn", 1, 0, 1, 1, 34, "紧急停机", "operator"),
        ticket_row("展鹏达", 1, 0, 1, 1, 10, "汽车电池管理主动停止", "operator"),
    ]
    with seeded.connect() as conn:  # the autoreply did open a ticket: it is left out above
        assert conn.execute(select(func.count()).select_from(Ticket)).scalar_one() == 8


def test_the_window_decides_what_counts(seeded):
    october = counted(seeded, "code", datetime(2026, 10, 1, tzinfo=UTC), SINCE)
    assert [(r["code"], r["hits"], r["tickets"], r["piles"]) for r in october] == [(34, 1, 1, 1)]
    assert counted(seeded, "pile", datetime(2026, 10, 1, tzinfo=UTC), SINCE) == [
        ticket_row(PILE_A, 1, 0, 1, 1, 34, "紧急停机", "pile")
    ]
    longer = counted(seeded, "code", SINCE, datetime(2026, 12, 10, tzinfo=UTC))
    assert [(r["code"], r["hits"]) for r in longer] == [(34, 4), (10, 2), (9, 1), (47, 1)]
    # A resolution counts on the day it was made; open is every ticket opened by then not resolved.
    day = counted(
        seeded, "operator", datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)
    )
    assert day[0] == {
        "operator": "星星充电",
        "opened": 0,
        "resolved": 1,
        "open": 2,
        "stop_code_hits": 0,
        "top_code": None,
        "top_code_vendor": None,
        "top_code_meaning": None,
        "resolution_median_hours": 360.0,  # opened 11-05, resolved 11-20
    }


def test_an_unknown_grouping_is_refused(seeded):
    with pytest.raises(ValueError, match="pile"):  # by engineer is a grouping now (SPEC §13)
        counted(seeded, "vendor")


@pytest.fixture
def config_file(tmp_path):
    """A seeded SQLite database and the config file the command reads."""
    url = f"sqlite:///{tmp_path}/gongdan.db"
    db.upgrade(url)
    engine = db.open_database(url)
    seed(Desk(engine))
    engine.dispose()
    path = tmp_path / "gongdan.toml"
    path.write_text(f'[database]\nurl = "{url}"\n', "utf-8")
    return path


def gongdan(config_file, *args):
    return CliRunner().invoke(cli, ["--config", str(config_file), "stats", *args])


NOVEMBER = ("--since", "2026-11-01", "--until", "2026-12-01")


def test_csv_is_utf8_with_a_header_and_the_numbers(config_file):
    result = gongdan(config_file, *NOVEMBER, "--by", "station", "--format", "csv")
    assert result.exit_code == 0, result.output
    # UTF-8 whatever the locale, with the byte-order mark Excel needs to read it as UTF-8.
    # Headers in Chinese, for the monthly review (SPEC §13; they were the JSON keys).
    assert result.stdout_bytes.startswith("\ufeff桩站名称,".encode())
    text = result.stdout_bytes.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [stats_cli.TITLES[k] for k in ["station", *TICKET_KEYS]]
    assert [(r["桩站名称"], r["新建"], r["未解决"], r["代号次数"]) for r in rows] == [
        ("苏州园区星港站", "3", "3", "5"),
        ("平湖中泰站", "1", "1", "1"),
        ("", "1", "1", "1"),
    ]
    assert rows[0]["最常见代号含义"] == "紧急停机" and rows[0]["最常见代号厂家"] == "盛弘"


def test_json_is_a_list_of_objects_with_chinese_as_written(config_file):
    result = gongdan(config_file, *NOVEMBER, "--by", "code", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "紧急停机" in result.stdout  # not \u7d27 escapes
    rows = json.loads(result.stdout_bytes.decode("utf-8"))
    assert rows[0] == {
        "code": 34,
        "vendor": "sinexcel",
        "meaning": "紧急停机",
        "hits": 4,
        "tickets": 4,
        "piles": 2,
    }
    assert [r["code"] for r in rows] == [34, 9, 10, 47]
    by_pile = json.loads(gongdan(config_file, *NOVEMBER, "--by", "pile", "--format", "json").stdout)
    assert (
        by_pile[0]["pile"] == PILE_A and by_pile[0]["opened"] == 2 and by_pile[-1]["pile"] is None
    )


def test_a_pipe_gets_aligned_plain_text(config_file):
    result = gongdan(config_file, *NOVEMBER, "--by", "operator")
    assert result.exit_code == 0, result.output
    period, *lines = result.stdout.splitlines()  # the period above the table (SPEC §13)
    assert period == "统计区间：2026-11-01 08:00 至 2026-12-01 08:00（Asia/Shanghai）"
    assert "\x1b" not in result.stdout and "┃" not in result.stdout  # no colours, no box
    titles = ["运营商", "新建", "已解决", "未解决", "代号次数", "最常见代号", "解决时长中位数"]
    assert lines[0].split() == titles
    assert lines[1].split() == ["星星充电", "3", "1", "3", "5", "34", "紧急停机", "15天0小时"]
    assert lines[2].split()[0] == "a@lvneng.example.cn" and lines[3].split()[0] == "展鹏达"
    # Columns line up on screen, Chinese characters taking two cells: the right-aligned count of
    # tickets opened ends at the same cell on every line.
    ends = {stats_cli._width(re.match(r"\S+\s+\S+", line).group()) for line in lines}
    assert len(ends) == 1, result.stdout
    by_pile = gongdan(config_file, *NOVEMBER, "--by", "pile").stdout.splitlines()
    assert by_pile[-1].split()[0] == "(未填写)"


def test_a_terminal_gets_a_table_that_keeps_mail_text_as_text():
    rows = [
        {"station": "[red]苏州[/red]站", "opened": 3, "resolved": 1, "open": 3},
    ]
    rows[0].update(
        stop_code_hits=5, top_code=34, top_code_vendor="sinexcel", top_code_meaning="紧急停机"
    )
    out = io.StringIO()
    stats_cli.rich_table(Console(file=out, width=100, force_terminal=True), rows, "station", "t")
    shown = out.getvalue()
    assert "[red]苏州[/red]站" in shown and "34 紧急停机" in shown and "┃" in shown


def test_stored_control_characters_never_reach_the_output(config_file):
    url = config_file.read_text().split('"')[1]
    engine = db.open_database(url)
    with engine.begin() as conn:  # a row stored before text was cleaned when read
        conn.execute(
            update(Ticket)
            .where(Ticket.station == "平湖中泰站")
            .values(station="平湖\x1b]52;c;aGk=\x07中泰站\u202e")
        )
    engine.dispose()
    for fmt in ("table", "csv", "json"):
        result = gongdan(config_file, *NOVEMBER, "--by", "station", "--format", fmt)
        assert result.exit_code == 0, result.output
        assert "平湖中泰站" in result.stdout and "\x1b" not in result.stdout, fmt
        assert "\u202e" not in result.stdout and "\x07" not in result.stdout, fmt


def test_relative_since_counts_back_from_now(config_file):
    url = config_file.read_text().split('"')[1]
    engine = db.open_database(url)
    Desk(engine).store(
        "2026-12-20T07:00",
        ticket_mail(9, "41", operator="易充科技", station="杭州站", pile="33010800120000300002"),
    )
    engine.dispose()
    now = ("--now", "2026-12-20T09:00+00:00", "--format", "json")  # two hours after it
    rows = json.loads(gongdan(config_file, "--since", "1d", *now).stdout)
    assert [(r["code"], r["hits"]) for r in rows] == [(41, 1)]
    rows = json.loads(gongdan(config_file, "--since", "1h", *now).stdout)
    assert rows == []
    rows = json.loads(gongdan(config_file, "--since", "3d", "--until", "1h", *now).stdout)
    assert [r["code"] for r in rows] == [41]


@pytest.mark.parametrize(
    "args, words",
    [
        (("--since", "last month"), ["--since", "2026-11-01", "30d", "'last month'"]),
        (("--until", "soon"), ["--until", "'soon'"]),
        (("--by", "vendor"), ["--by", "code, pile, station, operator, engineer", "'vendor'"]),
        (("--format", "xlsx"), ["--format", "table, csv, json"]),
        (("--since", "2026-12-01", "--until", "2026-11-01"), ["--since", "before --until"]),
    ],
)
def test_bad_options_are_one_clear_line_and_exit_2(config_file, args, words):
    result = gongdan(config_file, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), result.stderr


def test_the_cli_knows_the_store_s_groupings():
    by = next(p for p in stats_cli.stats.params if p.name == "by")
    assert stats_cli.GROUPINGS == GROUPINGS and by.metavar == "|".join(GROUPINGS)


def test_a_date_with_an_offset_is_that_moment_and_a_bare_date_is_utc():
    now = datetime(2026, 11, 29, 12, tzinfo=UTC)
    beijing_midnight = stats_cli.parse_moment("2026-11-01T00:00+08:00", "--since", now)
    assert beijing_midnight == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert beijing_midnight.tzinfo == UTC
    assert stats_cli.parse_moment("2026-11-01", "--since", now) == SINCE
    assert stats_cli.parse_moment("2w", "--since", now) == now - timedelta(weeks=2)
