"""Views for people in one language and one zone (SPEC §13): tickets list/show, status, the
digest's rows, and spans that never read `1m` as a minute. SQLite, times given with --now."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from ingest.cli.main import cli
from ingest.cli.status import _lines as status_lines
from ingest.config import parse_config, parse_duration, zone
from ingest.desk.findings import report_json
from ingest.desk.health import report
from ingest.reading.display_words import event_words, flag_label, held_label, invalid_label
from ingest.store import db
from ingest.store.health import MailboxRecord, OutboxRecord
from ingest.store.outbox import DRAIN_STATE
from replies.digest_data import problem_words
from replies.digest_insight import last_days, per_day
from replies.engineer_notice import render_notice
from replies.local_time import local_minute
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


# --- `gongdan status`: problems and notices in Chinese, --json in its English words ----------

BERLIN = '[desk]\ntimezone = "Europe/Berlin"\n'


def _everything_wrong():
    """A report with every problem and notice: the mailbox last read at 08:00 UTC, a reply
    failing, two waiting, one bounced, one held, an unreadable mail, a failed send at 09:30
    UTC, a public operator domain and unverified engineer mail."""
    config = parse_config(
        f'{BERLIN}operator_domains = ["qq.com", "xingxing.example.cn"]\n'
        '[[engineer]]\nname = "小明"\naddress = "xm@gongdan.example.cn"\n'
    )
    at = lambda hour, minute=0: datetime(2026, 12, 5, hour, minute, tzinfo=UTC)  # noqa: E731
    states = {
        "support": MailboxRecord("support", 7, 12, at(8), "connection refused", at(9)),
        DRAIN_STATE: MailboxRecord(DRAIN_STATE, None, 0, at(9), "cannot reach SMTP", at(9, 30)),
    }
    outbox = OutboxRecord(
        per_state={"queued": 2, "held": 1, "sent": 4},
        oldest_failure=at(7),
        failing_message_id="<r1@gongdan.example.cn>",
        failing_error="550 mailbox full",
        waiting=2,
        oldest_waiting=at(7, 15),
        bounced=1,
    )
    return report(config, states, outbox, "0009", at(10), 60, (1, "not an email"))


def test_status_findings_keep_their_english_words_in_json():
    data = report_json(_everything_wrong())
    assert data["problems"] == [
        "mailbox support: no successful cycle since 2026-12-05T08:00:00+00:00 "
        "(last error: connection refused)",
        "outbox: reply <r1@gongdan.example.cn> failing for over an hour: 550 mailbox full",
        "outbox: 2 replies still waiting past the first retry "
        "(the oldest queued 2026-12-05T07:15:00+00:00)",
        "outbox: the last send (2026-12-05T09:30:00+00:00) failed: cannot reach SMTP",
    ]
    assert data["notices"] == [
        "outbox: 1 reply bounced in the last 7 days (gongdan outbox list --bounced)",
        "1 email kept unreadable in the last 7 days, the newest: not an email "
        "(gongdan export shows them)",
        "[desk]: operator_domains lists public mail domains (qq.com): anyone can have an "
        "address there, so they are never trusted as colleagues' or Reply-To domains",
        "engineer mail is not verified: anyone who writes from an engineer's address can "
        "change tickets; set [desk] trusted_authserv_id (docs/engineers.md)",
        "outbox: 1 reply held back by the daily reply limit "
        "(gongdan outbox list --held; gongdan outbox release sends them)",
    ]
    assert data["exit_code"] == 1 and json.dumps(data)  # plain data, as --json prints it


def test_status_findings_speak_chinese_in_the_desk_s_zone():
    lines = status_lines(_everything_wrong(), zone("Europe/Berlin"))
    problems, notices = lines[0], [line for line in lines if line.startswith("注意：")]
    # 08:00 UTC is 09:00 in Berlin; the last send at 09:30 UTC is 10:30.
    assert problems.startswith("异常：邮箱 support：3 个周期（3分钟）未成功收取，")
    assert "上次成功 2026-12-05 09:00（上次错误：connection refused）" in problems
    failing = "发件箱：回复 <r1@gongdan.example.cn> 发送失败已超过 1 小时：550 mailbox full"
    assert failing in problems
    assert "发件箱：2 封回复过了首次重试时间仍未发出（最早一封 2026-12-05 08:15 排队）" in problems
    assert "发件箱：上次发送（2026-12-05 10:30）失败：cannot reach SMTP" in problems
    assert notices == [
        "注意：发件箱：近 7 天有 1 封回复被退信（gongdan outbox list --bounced 查看）",
        "注意：近 7 天有 1 封邮件无法读取，最新一封：not an email（gongdan export 可查看）",
        "注意：配置 [desk] operator_domains 含公共邮箱域名（qq.com）：任何人都能在这些域名注册"
        "邮箱，因此它们不会被当作同事或 Reply-To 的可信域名",
        "注意：工程师邮件未经验证：任何人用工程师的地址发信都能修改工单；"
        "请设置 [desk] trusted_authserv_id（见 docs/engineers.md）",
        "注意：发件箱：1 封回复因每日回复限额暂缓"
        "（gongdan outbox list --held 查看；gongdan outbox release 发出）",
    ]
    text = "\n".join(lines)
    for english in ("mailbox support", "outbox:", "failing for", "bounced in", "held back"):
        assert english not in text
    assert "+00:00" not in text and "T08:00" not in text


def test_status_command_says_its_notices_in_chinese_and_json_in_english(tmp_path):
    config = _desk(
        tmp_path,
        f'{BERLIN}operator_domains = ["163.com"]\n'
        '[[engineer]]\nname = "小明"\naddress = "xm@gongdan.example.cn"\n',
    )
    text = gongdan(config, "status", "--now", NOW)
    assert text.exit_code == 1  # no mailbox cycle yet: degraded, as before
    assert "异常：邮箱 support：3 个周期（3分钟）未成功收取，上次成功 从未" in text.output
    assert "注意：配置 [desk] operator_domains 含公共邮箱域名（163.com）" in text.output
    assert "注意：工程师邮件未经验证" in text.output
    assert "no successful cycle" not in text.output and "not verified" not in text.output
    shown = gongdan(config, "status", "--json", "--now", NOW)
    assert shown.exit_code == 1
    data = json.loads(shown.output)
    assert data["problems"] == ["mailbox support: no successful cycle since ever"]
    assert any(n.startswith("engineer mail is not verified: ") for n in data["notices"])
    assert any("(163.com): anyone can have an address there" in n for n in data["notices"])


# --- `tickets show`: message flags, vendors and refused values in Chinese -------------------


def _more(config, *mails):
    """Store `mails` ((arrival, raw)) on the desk `config` names."""
    url = config.read_text("utf-8").split('"')[1]
    engine = db.open_database(url)
    desk = Desk(engine)
    for when, raw in mails:
        desk.store(when, raw)
    engine.dispose()


def test_tickets_show_says_flags_vendors_and_refusals_in_chinese(tmp_path):
    config = _desk(tmp_path, BERLIN)
    outsider = make_mail(  # on ticket 1's thread by its references, from nobody on it
        "我也来说两句",
        subject="Re: 充电故障 1",
        sender="someone@elsewhere.example",
        message_id="<x1@elsewhere.example>",
        in_reply_to="<s1@xingxing.example.cn>",
    )
    short = make_mail(
        "运营商：星星充电\n订单号：12345\n问题描述：扣费异常\n",
        subject="扣费异常",
        message_id="<s10@xingxing.example.cn>",
    )
    _more(config, ("2026-11-27T08:00", outsider), ("2026-11-27T09:00", short))
    one = gongdan(config, "tickets", "show", "1")
    assert one.exit_code == 0, one.output
    assert "线程外来信" in one.output and "outside_thread" not in one.output
    assert "(盛弘)" in one.output and "(sinexcel)" not in one.output
    auto = gongdan(config, "tickets", "show", "6").output
    assert "自动邮件" in auto and "auto_submitted" not in auto
    refused = gongdan(config, "tickets", "show", "10").output
    assert "无效: 订单号(必填)（5 位数字，应为 10-32 位）" in refused and "digits" not in refused
    # --json: the flags and reasons as stored, in English.
    data = json.loads(gongdan(config, "tickets", "show", "1", "--json").output)
    assert any("outside_thread" in m["flags"] for m in data["messages"])
    assert [c["vendor"] for c in data["stop_codes"]][0] == "sinexcel"
    refused = json.loads(gongdan(config, "tickets", "show", "10", "--json").output)
    assert refused["invalid"] == {"order_no": "5 digits, expected 10-32"}


def test_every_flag_the_store_sets_has_its_chinese_words():
    stored = [
        *("unreadable", "bounce", "reused_message_id", "outside_thread", "foreign_ticket_tag"),
        *("auto_submitted", "too_large", "too_many_parts", "text_truncated", "forged_engineer"),
        *("display_name_address", "outside_operator_domains", "over_daily_limit"),
        "reply_failed",
        *("ack", "request_info", "reminder", "answer", "resolved_notice", "not_understood"),
    ]
    words = [flag_label(f) for f in stored]
    assert all(w and w != f and not w.isascii() for f, w in zip(stored, words, strict=True))
    assert flag_label("over_daily_limit") == "超出每日回复限额" and flag_label("ack") == "确认"
    assert invalid_label("not digits") == "不是数字"
    assert (
        held_label("daily reply limit of 3 reached for a@x.cn") == "已达每日回复上限 3 封（a@x.cn）"
    )


# --- the digest's chart and the engineers' notices follow [desk] timezone --------------------


def test_the_digest_s_daily_chart_counts_days_in_the_desk_s_zone(tmp_path):
    # 2026-11-27 20:00 UTC is Friday 21:00 in Berlin but already Saturday 04:00 in Shanghai.
    now_at = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)
    now = now_at.isoformat()
    recipients = '[digest]\nrecipients = ["a@gongdan.example.cn"]\n'
    days = {}
    for name, extra in (("berlin", BERLIN), ("shanghai", "")):
        config = _desk(tmp_path / name, extra + recipients)
        out = tmp_path / f"{name}.html"
        result = gongdan(config, "digest", "--dry-run", "--now", now, "--out", str(out))
        assert result.exit_code == 0, result.output
        days[name] = out.read_text("utf-8")
    assert "11-27 周五" in days["berlin"] and "11-28 周六" not in days["berlin"]
    assert "11-28 周六" in days["shanghai"]
    assert "Europe/Berlin" in days["berlin"] and "北京时间" in days["shanghai"]
    # A ticket opened at 2026-11-26 20:00 UTC counts on the 26th in Berlin, the 27th in Shanghai.
    opened = [datetime(2026, 11, 26, 20, 0, tzinfo=UTC)]
    for tz, day in ((zone("Europe/Berlin"), 26), (zone("Asia/Shanghai"), 27)):
        counted = {
            d["day"].day: d["opened"] for d in per_day(last_days(now_at, 3, tz), opened, [], tz)
        }
        assert counted[day] == 1 and sum(counted.values()) == 1


def test_the_engineer_notice_speaks_the_desk_s_zone():
    ticket = {
        "id": 3,
        "subject": "充电故障",
        "status": "in_progress",
        "engineer": "小明",
        "messages": [
            {"at": datetime(2026, 12, 5, 16, 48, tzinfo=UTC), "sender": "o@x.cn", "text": "进度？"}
        ],
    }
    berlin = render_notice("小明", [ticket], "support@x.cn", None, zone("Europe/Berlin"))
    assert "2026-12-05 17:48 o@x.cn 来信" in berlin
    shanghai = render_notice("小明", [ticket], "support@x.cn")  # the default zone
    assert "2026-12-06 00:48 o@x.cn 来信" in shanghai
