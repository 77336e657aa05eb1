"""The monthly review (SPEC §13): `gongdan stats --month`, `--by engineer`, resolution times,
the period above the table, Chinese CSV headers and vendor names. SQLite, times given."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from click.testing import CliRunner

from ingest.cli.main import cli
from ingest.store import db
from ingest.store.models import TicketEvent
from tests.test_stats import ENGINEER, Desk, seed, ticket_mail

NOW = ("--now", "2026-12-05T16:48+00:00")


def _config(tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp_path}/review.db"
    db.upgrade(url)
    engine = db.open_database(url)
    desk = Desk(engine)
    seed(desk)
    # 2026-11-01 01:00 in Shanghai is still October in UTC: the month is the desk's month.
    desk.store("2026-10-31T17:00", ticket_mail(20, "34", station="苏州园区星港站"))
    with db.session(engine) as session:  # ticket 2 (小明's) was reopened in November
        session.add(
            TicketEvent(
                ticket_id=2,
                at=datetime(2026, 11, 22, 1, tzinfo=UTC),
                kind="reopened",
                by="ops@xingxing.example.cn",
                detail={"old": "resolved", "new": "in_progress"},
            )
        )
        session.commit()
    engine.dispose()
    path = tmp_path / "gongdan.toml"
    path.write_text(
        f'[database]\nurl = "{url}"\n[[engineer]]\nname = "小明"\naddress = "{ENGINEER}"\n',
        "utf-8",
    )
    return path


def stats(config, *args):
    return CliRunner().invoke(cli, ["--config", str(config), "stats", *args, *NOW])


def test_by_engineer_for_a_calendar_month(tmp_path):
    result = stats(_config(tmp_path), "--month", "2026-11", "--by", "engineer", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    mine = rows[0]
    # Ticket 2: opened 11-05 09:00, 小明 answered and resolved it 11-20 09:00 (15 days), then
    # the operator reopened it.
    assert mine == {
        "engineer": "小明",
        "taken": 1,
        "first_response_median_hours": 360.0,
        "first_response_p90_hours": 360.0,
        "resolved": 1,
        "resolution_median_hours": 360.0,
        "reopened": 1,
    }
    unassigned = rows[-1]
    assert unassigned["engineer"] is None and unassigned["taken"] == 5  # 3, 4, 5, 7 and 20
    assert unassigned["first_response_median_hours"] is None and unassigned["reopened"] == 0


def test_the_period_is_printed_above_the_table_in_the_desk_zone(tmp_path):
    result = stats(_config(tmp_path), "--month", "2026-11", "--by", "engineer")
    assert result.exit_code == 0, result.output
    period, titles, mine, unassigned = result.stdout.splitlines()
    assert period == "统计区间：2026-11-01 00:00 至 2026-12-01 00:00（Asia/Shanghai）"
    assert titles.split()[:3] == ["工程师", "接单数", "首次响应中位数"]
    assert mine.split() == ["小明", "1", "15天0小时", "15天0小时", "1", "15天0小时", "1"]
    assert unassigned.split()[0] == "(未指派)"


def test_the_month_is_the_desk_s_month_not_utc_s(tmp_path):
    config = _config(tmp_path)
    month = json.loads(
        stats(config, "--month", "2026-11", "--by", "station", "--format", "json").stdout
    )
    utc = json.loads(
        stats(
            config,
            "--since",
            "2026-11-01",
            "--until",
            "2026-12-01",
            "--by",
            "station",
            "--format",
            "json",
        ).stdout
    )
    star = lambda rows: next(r for r in rows if r["station"] == "苏州园区星港站")  # noqa: E731
    assert star(month)["opened"] == star(utc)["opened"] + 1  # ticket 20, 11-01 01:00 Shanghai
    assert star(month)["resolution_median_hours"] == 360.0


def test_csv_has_chinese_headers_and_vendor_names(tmp_path):
    result = stats(_config(tmp_path), "--month", "2026-11", "--format", "csv")
    assert result.exit_code == 0, result.output
    text = result.stdout_bytes.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0])[:3] == ["停止代号", "厂家", "含义"]
    assert {r["厂家"] for r in rows} == {"盛弘"} and "sinexcel" not in text
    table = stats(_config(tmp_path / "t"), "--month", "2026-11").stdout
    assert "盛弘" in table and "sinexcel" not in table
    # JSON keeps the vendor's key, in English.
    raw = stats(_config(tmp_path / "j"), "--month", "2026-11", "--format", "json").stdout
    assert json.loads(raw)[0]["vendor"] == "sinexcel"


def test_month_and_since_are_exclusive_and_bad_spans_are_one_line(tmp_path):
    config = _config(tmp_path)
    for args, words in (
        (("--month", "2026-11", "--since", "30d"), ["--month", "--since"]),
        (("--month", "2026-13"), ["--month", "2026-11", "'2026-13'"]),
        (("--since", "1m"), ["--since", "1min", "1mo", "ambiguous"]),
    ):
        result = stats(config, *args)
        assert result.exit_code == 2 and result.stdout == "", args
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and all(w in lines[0] for w in words), result.stderr
    # Positive control: the spans people write are accepted.
    for span in ("1h", "3d", "2w", "1mo", "60min"):
        assert stats(config, "--since", span, "--format", "json").exit_code == 0, span
