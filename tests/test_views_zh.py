"""Views for people in one language and one zone (SPEC §13): tickets list/show, status, the
digest's rows, and spans that never read `1m` as a minute. SQLite, times given with --now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from ingest.cli.main import cli
from ingest.config import parse_duration
from ingest.reading.display_words import event_words
from ingest.reading.local_time import local_minute, zone
from ingest.store import db
from replies.digest_data import problem_words
from tests.conftest import make_mail
from tests.test_stats import Desk, seed

NOW = "2026-12-05T16:48:16.731720+00:00"
ORDER = "20261124081644614873"


def _desk(tmp_path, extra: str = ""):
    tmp_path.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{tmp_path}/views.db"
    db.upgrade(url)
    engine = db.open_database(url)
    desk = Desk(engine)
    seed(desk)
    desk.store(
        "2026-11-26T10:30",
        make_mail(
            f"运营商：星星充电\n订单号：{ORDER}\n问题描述：扫码后无法启动充电\n",
            subject="充电故障 9",
            message_id="<s9@xingxing.example.cn>",
        ),
    )
    engine.dispose()
    path = tmp_path / "gongdan.toml"
    path.write_text(f'[database]\nurl = "{url}"\n{extra}', "utf-8")
    return path


def gongdan(config, *args):
    return CliRunner().invoke(cli, ["--config", str(config), *args])


def test_tickets_show_speaks_chinese_with_local_times_to_the_minute(tmp_path):
    shown = gongdan(_desk(tmp_path), "tickets", "show", "2")
    assert shown.exit_code == 0, shown.output
    out = shown.output
    # The engineer's mail of 2026-11-20 09:00 UTC is 17:00 in Shanghai; no UTC, no microseconds.
    assert "│ 2026-11-20 17:00 │ 状态变更 │" in out and "待补充信息 → 已解决" in out
    assert "│ 2026-11-20 17:00 │ 指派     │" in out and "指派：小明" in out
    assert "+00:00" not in out and "T09:00" not in out and ":16." not in out
    assert "status_changed" not in out and "assigned" not in out and "old=" not in out
    assert "模板: " in out and not any(f"模板: {t}" in out for t in ("simple", "detailed", "none"))
    # --json keeps English keys and ISO times (unchanged).
    detail = gongdan(_desk(tmp_path / "j"), "tickets", "show", "2", "--json").output
    assert '"kind": "status_changed"' in detail and "+00:00" in detail


def test_the_zone_is_the_desk_s(tmp_path):
    config = _desk(tmp_path, '[desk]\ntimezone = "Europe/Berlin"\n')
    out = gongdan(config, "tickets", "show", "2").output
    assert "2026-11-20 10:00" in out and "2026-11-20 17:00" not in out
    bad = _desk(tmp_path / "bad", '[desk]\ntimezone = "Mars/Olympus"\n')
    result = gongdan(bad, "tickets", "list")
    assert result.exit_code != 0 and "timezone" in result.output and "Mars/Olympus" in result.output


def test_a_pipe_gets_one_unwrapped_line_per_ticket(tmp_path):
    # CliRunner: stdout is not a terminal. --all: the seed's automatic mail is stored closed.
    result = gongdan(_desk(tmp_path), "tickets", "list", "--all")
    assert result.exit_code == 0, result.output
    header, *rows = result.output.splitlines()
    assert header.split("\t")[:5] == ["#", "状态", "运营商", "桩站", "订单号"]
    assert len(rows) == 9  # the seeded tickets and the one with an order number, one line each
    (line,) = [r for r in rows if ORDER in r]  # the 20 digits whole, on the ticket's own line
    cells = line.split("\t")
    assert cells[4] == ORDER and "2026-11-26 18:30" in cells  # 10:30 UTC, in Shanghai
    assert all(len(r.split("\t")) == len(header.split("\t")) for r in rows)


def test_status_text_is_chinese_and_json_stays_english(tmp_path):
    config = _desk(tmp_path)
    text = gongdan(config, "status", "--now", NOW).output
    assert "邮箱 support：上次成功 从未" in text and "发件箱：待发送 0" in text
    assert "数据库版本：" in text and "outbox:" not in text.split("\n", 1)[1]
    report = gongdan(config, "status", "--json", "--now", NOW).output
    assert '"outbox"' in report and '"mailboxes"' in report


def test_local_minute_and_event_words():
    tz = zone("Asia/Shanghai")
    assert local_minute("2026-12-05T16:48:16.731720+00:00", tz) == "2026-12-06 00:48"
    assert local_minute(datetime(2026, 12, 5, 16, 48, 16), tz) == "2026-12-06 00:48"  # naive: UTC
    assert event_words("assigned", {"old": None, "new": "小明"}) == "指派：小明"
    assert event_words("status_changed", {"old": "resolved", "new": "in_progress"}) == (
        "已解决 → 处理中"
    )
    assert event_words("closed", {"reason": "自动邮件"}) == "原因：自动邮件"


@pytest.mark.parametrize("text", ["1m", "90m", " 3M "])
def test_a_bare_m_is_refused_as_ambiguous(text):
    with pytest.raises(ValueError, match=r"min for minutes or .*mo for months"):
        parse_duration(text)


def test_spans_people_write():
    assert parse_duration("90min") == timedelta(minutes=90)
    assert parse_duration("1h") == timedelta(hours=1) and parse_duration("3d") == timedelta(3)
    assert parse_duration("2w") == timedelta(weeks=2) and parse_duration("1mo") == timedelta(30)


def test_the_digest_rows_say_what_the_problem_is():
    assert (
        problem_words("扫码后无法启动充电，联系13812345678", "x")
        == "扫码后无法启动充电，联系138****5678"
    )
    assert problem_words(None, "充电故障 9") == "充电故障 9"
    long = problem_words("很" * 50, None)
    assert len(long) == 30 and long.endswith("…")


def test_the_digest_speaks_the_desk_s_zone_and_shows_the_problem(tmp_path):
    config = _desk(tmp_path, '[digest]\nrecipients = ["a@gongdan.example.cn"]\n')
    out = tmp_path / "digest.html"
    now = datetime(2026, 11, 27, 1, 0, tzinfo=UTC).isoformat()
    result = gongdan(config, "digest", "--dry-run", "--now", now, "--out", str(out))
    assert result.exit_code == 0, result.output
    html = out.read_text("utf-8")
    assert "扫码后无法启动充电" in html and "2026-11-27 09:00" in html
