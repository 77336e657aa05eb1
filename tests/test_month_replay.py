"""A month of desk life replayed day by day through the CLI, every command given `--now` (SPEC
§13's "Done when"): on the embedded default (Maildir in, Maildir outbox, SQLite), and a shorter
replay against Dovecot, aiosmtpd and PostgreSQL. Each behaviour is asserted from what a user
sees: the mails in the outbox, `tickets list/show --json`, the digest, `stats`."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import make_mail
from tests.desk import ENGINEER, FROM, Desk

SH = ZoneInfo("Asia/Shanghai")
MX = "mx.gongdan.example.cn"
XIAOHONG = "xiaohong@gongdan.example.cn"
TEAM = "aftersales@gongdan.example.cn"
ENGINEERS = (
    f'[[engineer]]\nname = "小明"\naddress = "{ENGINEER}"\n\n'
    f'[[engineer]]\nname = "小红"\naddress = "{XIAOHONG}"\n'
)
EXTRA = f'{ENGINEERS}\n[desk]\ntrusted_authserv_id = "{MX}"\n\n[digest]\nrecipients = ["{TEAM}"]\n'
RONG, XING, LV = "ops@rongcheng.example.cn", "ops@xingxing.example.cn", "service@lvneng.example.cn"
YI, NAN, ZHAN = (
    "wanggong@yichong.example.com",
    "kefu@nanwang.example.cn",
    "ops@zhanpengda.example.cn",
)
ASK = "请问这个工单处理进度如何？现场用户一直在投诉。"
AGAIN = "问题又出现了，停止原因还是34，请再核实。"
ORDER = [f"2026111{n}081644614873" for n in range(5)]
PILE = [f"3501040008000020001{n}" for n in range(3)]


def at(when: str) -> datetime:
    """'11-02 09:30' in 2026, Shanghai time."""
    return datetime.strptime(f"2026-{when}", "%Y-%m-%d %H:%M").replace(tzinfo=SH)


def complete(operator: str, order: str, pile: str, code: int, problem: str) -> str:
    return (
        f"运营商：{operator}\n订单号：{order}\n充电桩号：{pile}\n手机号：13512348382\n"
        f"问题描述：{problem}，停止原因：{code}\n运营商初步排查结果：已远程重启，仍然出现\n"
    )


def engineer_body(
    *, status: str = "", name: str = "", answer: str = "", solve: str = "", more: str = ""
) -> str:
    marks = {s: f"☑ {s}" if s == status else s for s in ("已解决", "处理中", "暂搁置", "已关闭")}
    lines = [more] if more else []
    if status:
        lines.append("状态(☑表示选定 ): " + " | ".join(marks.values()))
    if name:
        lines.append(f"售后(跟单)工程师: {name}")
    if answer:
        lines.append(f"---答复\n{answer}")
    if solve:
        lines.append(f"---解决\n{solve}")
    return "\n".join(lines) + "\n"


class Month:
    """The desk's month: mails arrive and are polled at their time; every day at 09:00 the
    reminder step runs, at 18:00 the digest goes to the team (its HTML kept by day)."""

    def __init__(self, desk: Desk, start: datetime):
        self.desk, self.clock = desk, start
        self.first_mail: dict[int, str] = {}  # ticket -> the operator's Message-ID that opened it
        self.subjects: dict[int, str] = {}
        self.count = 0

    def cli(self, *args: str) -> str:
        result = self.desk.gongdan(*args)
        assert result.exit_code == 0, (args, result.output)
        return result.output

    def until(self, when: datetime) -> None:
        """Run the daily steps that fall after the clock and up to `when`."""
        day: date = self.clock.date()
        while day <= when.date():
            for hour, step in ((9, self.remind), (18, self.digest)):
                moment = datetime.combine(day, time(hour), SH)
                if self.clock < moment <= when:
                    step(moment)
            day += timedelta(days=1)
        self.clock = when

    def remind(self, now: datetime) -> None:
        self.cli("remind", "--now", now.isoformat())

    def digest(self, now: datetime) -> None:
        out = self.desk.root / f"digest-{now:%m%d}.html"
        self.cli("digest", "--now", now.isoformat(), "--out", str(out))

    def poll(self, when: str, *raws: bytes) -> None:
        now = at(when)
        self.until(now)
        for raw in raws:
            self.desk.deliver(raw)
        self.cli("poll", "--now", now.isoformat())

    def mail(self, sender: str, body: str, subject: str, when: str, **kw) -> bytes:
        self.count += 1
        domain = sender.split("@")[1]
        return make_mail(
            body,
            subject=subject,
            sender=sender,
            message_id=f"<r{self.count}@{domain}>",
            date=format_datetime(at(when)),
            **kw,
        )

    def opens(self, ticket: int, sender: str, body: str, subject: str, when: str) -> None:
        """An operator's new ticket, which becomes number `ticket`."""
        raw = self.mail(sender, body, subject, when)
        self.first_mail[ticket], self.subjects[ticket] = (
            f"<r{self.count}@{sender.split('@')[1]}>",
            subject,
        )
        self.poll(when, raw)

    def on(self, ticket: int, sender: str, body: str, when: str, **kw) -> None:
        """A mail on `ticket`'s thread (an engineer's passes the desk's authentication)."""
        headers = kw.pop("headers", None)
        if sender in (ENGINEER, XIAOHONG):
            headers = {"Authentication-Results": f"{MX}; dkim=pass header.d=gongdan.example.cn"}
        raw = self.mail(
            sender,
            body,
            f"Re: {self.subjects[ticket]} [工单#{ticket}]",
            when,
            in_reply_to=self.first_mail[ticket],
            headers=headers,
            **kw,
        )
        self.poll(when, raw)

    # what people see ---------------------------------------------------------------------------

    def sent(self, kind: str, to: str | None = None) -> list:
        """The mails of outbox kind `kind` in the outbox (to `to`), in the order written."""
        ids = {r.message_id: r for r in self.desk.rows() if r.kind == kind}
        return [m for m in self.desk.replies() if m["Message-ID"] in ids and to in (None, m["To"])]

    def ticket(self, number: int) -> dict:
        return self.desk.show(number)

    def listed(self, *args: str) -> dict[int, dict]:
        return {t["id"]: t for t in self.desk.tickets(*args)}

    def digest_of(self, day: str) -> str:
        return (self.desk.root / f"digest-{day}.html").read_text("utf-8")


def waiting_section(html: str) -> str:
    """The digest's 运营商来信待回复 section (empty when the digest has none)."""
    if "运营商来信待回复" not in html:
        return ""
    return html.split("运营商来信待回复", 1)[1].split("</table>", 1)[0]


def body(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def test_a_month_of_desk_life_on_the_embedded_default(tmp_path):
    desk = Desk(tmp_path, f"sqlite:///{tmp_path}/gongdan.db", extra=EXTRA)
    month = Month(desk, at("10-28 08:00"))

    # 10-28: #1 融城能源, complete -> ack; 小明 takes and resolves it the same afternoon.
    month.opens(
        1,
        RONG,
        complete("融城能源", "20261028071530221907", "33010800120000300002", 41, "充到一半中断"),
        "滨江融城站 2号桩充电中断",
        "10-28 10:00",
    )
    month.on(
        1,
        ENGINEER,
        engineer_body(status="已解决", name="小明", solve="已更换电表通讯模块。"),
        "10-28 15:00",
    )
    assert [m["To"] for m in month.sent("ack")] == [RONG]
    assert [m["To"] for m in month.sent("resolved_notice")] == [RONG]
    assert month.ticket(1)["status"] == "resolved"

    # 11-02: #2 星星充电 complete -> ack; #3 绿能, #4 易充 incomplete -> the standard request.
    month.opens(
        2,
        XING,
        complete(
            "星星充电", "20261102081644614873", "35010400080000200015", 34, "扫码后充电几分钟停止"
        ),
        "园区星港站 充电中断",
        "11-02 09:30",
    )
    month.opens(
        3, LV, "运营商：绿能充电\n问题描述：3号桩充不上电\n", "充电桩充不上电", "11-02 10:00"
    )
    month.opens(4, YI, "运营商：易充科技\n问题描述：APP 显示桩离线\n", "桩离线", "11-02 11:00")
    assert [m["To"] for m in month.sent("request_info")] == [LV, YI]
    # 小明 takes #2 and answers the operator through the desk.
    month.on(
        2,
        ENGINEER,
        engineer_body(name="小明", answer="已远程重启模块，请现场再试，有问题拨 13912345678。"),
        "11-02 16:00",
    )
    (answer,) = month.sent("answer", XING)
    assert answer["In-Reply-To"] == month.first_mail[2] and "[工单#2]" in answer["Subject"]
    assert "已远程重启模块" in body(answer) and "139****5678" in body(answer)
    assert ENGINEER not in answer.as_string() and answer["From"].addresses[0].addr_spec == FROM

    # 11-04: 星星充电 asks about #2: it waits for the team and 小明 hears of it at once.
    month.on(2, XING, ASK, "11-04 10:00")
    assert month.listed()[2]["waiting_on"] == "team"
    (notice,) = month.sent("engineer_notice", ENGINEER)
    assert "工单#2" in body(notice) and "现场用户一直在投诉" in body(notice)
    assert month.sent("engineer_notice", XING) == []  # a notice never reaches an operator
    texts = [m["text"] for m in month.ticket(2)["messages"] if m["direction"] == "in"]
    assert texts[-1] == ASK
    month.until(at("11-04 20:00"))
    section = waiting_section(month.digest_of("1104"))
    assert "#2" in section and "现场用户一直在投诉" in section and "8小时" in section

    # The reminder step: #3 and #4 were asked on 11-02; the 11-05 09:00 run reminds both.
    month.until(at("11-05 09:30"))
    assert sorted(m["To"] for m in month.sent("reminder")) == [LV, YI]
    # 小明 resolves #2 -> the resolved notice, nobody waits any more; 绿能 completes #3 -> ack.
    month.on(2, ENGINEER, engineer_body(status="已解决", solve="已更换主控板。"), "11-05 10:00")
    assert month.ticket(2)["status"] == "resolved" and month.ticket(2)["waiting_on"] is None
    month.on(
        3,
        LV,
        "订单号：20261105085102119043\n充电桩号：42010200050000100003\n停止原因：2\n"
        "运营商初步排查结果：重启无效\n",
        "11-05 14:00",
    )
    assert [m["To"] for m in month.sent("ack")] == [RONG, XING, LV]
    assert [m["To"] for m in month.sent("resolved_notice")] == [RONG, XING]
    month.until(at("11-05 20:00"))
    assert "#2" not in waiting_section(month.digest_of("1105"))

    # 11-06: an out-of-office mail joins no thread: stored closed, unanswered, out of the list.
    ooo = month.mail(
        NAN,
        "您好，我正在休假。",
        "自动回复：休假",
        "11-06 08:00",
        headers={"Auto-Submitted": "auto-replied"},
    )
    month.poll("11-06 08:00", ooo)
    assert 5 not in month.listed()
    auto = month.listed("--all")[5]
    assert auto["status"] == "closed"
    assert month.ticket(5)["closed_reason"] == "自动邮件"
    assert desk.replies_to(NAN) == []

    # 11-09: 星星充电 writes on the resolved #2: reopened, waiting for the team, 小明 told again.
    month.on(2, XING, AGAIN, "11-09 10:00")
    reopened = month.ticket(2)
    assert (reopened["status"], reopened["waiting_on"]) == ("in_progress", "team")
    assert reopened["events"][-1]["kind"] == "reopened"
    assert len(month.sent("engineer_notice", ENGINEER)) == 2
    # #4 never answered: on hold with a notice once its week is up (11-10 09:00).
    month.on(2, ENGINEER, engineer_body(answer="已安排工程师明天到场。"), "11-09 15:00")
    assert len(month.sent("answer", XING)) == 2 and month.ticket(2)["waiting_on"] is None
    month.on(2, ENGINEER, engineer_body(status="已解决", solve="到场更换枪线。"), "11-10 10:00")
    assert month.ticket(4)["status"] == "on_hold"
    assert [m["To"] for m in month.sent("hold_notice")] == [YI]

    # 11-10: two tickets on one pile of 南网快充; 小红 takes #6 and merges #7 into it by command.
    pile = "44010600020000300012"
    month.opens(
        6,
        NAN,
        complete("南网快充", "20261110093305778120", pile, 32, "拔枪后继续计费"),
        "天河汇景站 计费异常",
        "11-10 09:30",
    )
    month.opens(
        7,
        NAN,
        complete("南网快充", "20261110094005778121", pile, 32, "又一单拔枪后计费"),
        "天河汇景站 又计费异常",
        "11-10 09:40",
    )
    month.on(
        6,
        XIAOHONG,
        engineer_body(name="小红", more="---跟踪\n同一根桩，查计费逻辑。"),
        "11-10 11:00",
    )
    month.until(at("11-10 11:30"))
    month.cli("tickets", "merge", "7", "--into", "6", "--now", at("11-10 11:30").isoformat())
    merged = month.ticket(7)
    assert (merged["status"], merged["merged_into"]) == ("closed", 6)
    assert 7 not in month.listed() and month.listed("--all")[7]["status"] == "closed"
    assert month.ticket(6)["engineer"] == "小红"
    month.on(
        6, XIAOHONG, engineer_body(status="已解决", solve="计费组已修正结束逻辑。"), "11-11 09:30"
    )

    # 11-12: 展鹏达 twice on one pile; 小红 answers #8 and merges #9 into it by mail.
    pile = "33040200060000100021"
    month.opens(
        8,
        ZHAN,
        complete("展鹏达", "20261112085512006621", pile, 47, "充电几分钟后停止"),
        "嘉兴南湖站 充电中断",
        "11-12 09:00",
    )
    month.opens(
        9,
        ZHAN,
        complete("展鹏达", "20261112091733417702", pile, 47, "又有用户充电中断"),
        "嘉兴南湖站 又中断",
        "11-12 09:20",
    )
    month.on(
        8, XIAOHONG, engineer_body(name="小红", answer="已安排现场排查模块风扇。"), "11-12 12:00"
    )
    month.on(9, XIAOHONG, "同一根桩的问题。\n合并到：工单#8\n", "11-12 13:00")
    assert (month.ticket(9)["status"], month.ticket(9)["merged_into"]) == ("closed", 8)
    assert [m["To"] for m in month.sent("answer", ZHAN)] == [ZHAN]

    # 11-13: a test mail from 星星充电 closed by command: never reminded.
    month.opens(10, XING, "测试邮件，请忽略。\n运营商：星星充电\n", "测试", "11-13 10:00")
    month.until(at("11-13 11:00"))
    month.cli(
        "tickets",
        "close",
        "10",
        "--reason",
        "运营商测试邮件",
        "--now",
        at("11-13 11:00").isoformat(),
    )
    assert month.ticket(10)["closed_reason"] == "运营商测试邮件"

    # 11-16: #11 绿能, complete; 小红 answers, then closes it by mail (☑ 已关闭): no mail to 绿能.
    month.opens(
        11,
        LV,
        complete("绿能充电", "20261116085102119044", "42010200050000100003", 9, "充电桩无法启动"),
        "东湖站 无法启动",
        "11-16 10:00",
    )
    month.on(
        11,
        XIAOHONG,
        engineer_body(name="小红", answer="请确认车辆是否支持该桩功率。"),
        "11-16 14:00",
    )
    to_lv = len(desk.replies_to(LV))
    month.on(
        11, XIAOHONG, engineer_body(status="已关闭", more="车辆问题，非桩故障。"), "11-18 10:00"
    )
    assert month.ticket(11)["status"] == "closed" and len(desk.replies_to(LV)) == to_lv

    # 11-20: #12 易充, complete; 小明 answers and resolves it.
    month.opens(
        12,
        YI,
        complete("易充科技", "20261120094812003317", "32050100010000400008", 10, "充电1分钟就停"),
        "充电1分钟就停",
        "11-20 09:00",
    )
    month.on(
        12,
        ENGINEER,
        engineer_body(name="小明", answer="车辆BMS主动停止，建议车主检修。"),
        "11-20 11:30",
    )
    month.on(12, ENGINEER, engineer_body(status="已解决", solve="车辆BMS问题。"), "11-21 09:30")

    # 11-29: 融城能源 writes on #1, resolved 32 days ago: a new ticket that names it.
    month.on(1, RONG, "电表又告警了，问题又出现了，请再核实。", "11-29 10:00")
    assert month.ticket(1)["status"] == "resolved"
    assert month.ticket(13)["related"] == [1]
    month.until(at("11-30 20:00"))

    # Reminders: only #3 and #4 were ever reminded; the closed test mail (#10) never.
    assert sorted(m["To"] for m in month.sent("reminder")) == [LV, YI]
    # A person sees the open tickets first; resolved ones by their status; merged and closed
    # ones with --all only.
    assert sorted(month.listed()) == [3, 4, 8, 13]
    resolved = month.listed("--status", "resolved")
    assert sorted(month.listed("--status", "resolved") | month.listed()) == [
        1,
        2,
        3,
        4,
        6,
        8,
        12,
        13,
    ]
    assert all(t["status"] == "resolved" for t in resolved.values())
    # The team had a digest every evening, and it never listed closed tickets.
    digests = month.sent("digest", TEAM)
    assert len(digests) == 34
    open_rows = month.digest_of("1113").split("运营商来信待回复")[0]
    assert "#8" in open_rows and "#10" not in open_rows

    # The monthly review, as of 12-01 09:00.
    out = month.cli(
        "stats",
        "--month",
        "2026-11",
        "--by",
        "engineer",
        "--format",
        "json",
        "--now",
        at("12-01 09:00").isoformat(),
    )
    rows = {r["engineer"]: r for r in json.loads(out)}
    # 小明: #2 (answered 6.5 h after it opened, last resolved 11-10 10:00, 192.5 h; reopened)
    # and #12 (answered after 2.5 h, resolved after 24.5 h).
    assert rows["小明"] == {
        "engineer": "小明",
        "taken": 2,
        "first_response_median_hours": 4.5,
        "first_response_p90_hours": 6.1,
        "resolved": 2,
        "resolution_median_hours": 108.5,
        "reopened": 1,
    }
    # 小红: #6 (1.5 h, resolved after 24 h), #8 (3 h), #11 (4 h, closed, not resolved).
    assert rows["小红"] == {
        "engineer": "小红",
        "taken": 3,
        "first_response_median_hours": 3.0,
        "first_response_p90_hours": 3.8,
        "resolved": 1,
        "resolution_median_hours": 24.0,
        "reopened": 0,
    }
    table = month.cli(
        "stats", "--month", "2026-11", "--by", "engineer", "--now", at("12-01 09:00").isoformat()
    )
    assert (
        table.splitlines()[0] == "统计区间：2026-11-01 00:00 至 2026-12-01 00:00（Asia/Shanghai）"
    )


@pytest.mark.servers
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_shorter_replay_on_dovecot_aiosmtpd_and_postgresql(
    tmp_path, dovecot, dovecot_user, smtp_sink, database_url
):
    desk = Desk(
        tmp_path, database_url, imap=(dovecot, dovecot_user, "INBOX"), smtp=smtp_sink, extra=EXTRA
    )
    month = Month(desk, at("10-20 08:00"))
    # 10-20: #1 融城能源, resolved by 小明 the same day.
    month.opens(
        1, RONG, complete("融城能源", ORDER[0], PILE[0], 41, "充到一半中断"), "中断", "10-20 10:00"
    )
    month.on(
        1, ENGINEER, engineer_body(status="已解决", name="小明", solve="已换模块。"), "10-20 15:00"
    )
    # 11-02: #2 complete, #3 incomplete; the operator of #2 asks, 小明 hears of it and answers.
    month.opens(
        2, XING, complete("星星充电", ORDER[1], PILE[1], 34, "充电中断"), "中断", "11-02 09:30"
    )
    month.opens(3, LV, "运营商：绿能充电\n问题描述：3号桩充不上电\n", "充不上电", "11-02 10:00")
    month.on(2, XING, ASK, "11-02 12:00")
    assert month.listed()[2]["waiting_on"] == "team"
    # Nobody has taken #2 yet: the notice goes to the digest's recipients, never the operator.
    assert (
        len(month.sent("engineer_notice", TEAM)) == 1 and month.sent("engineer_notice", XING) == []
    )
    month.until(at("11-02 20:00"))
    assert "现场用户一直在投诉" in waiting_section(month.digest_of("1102"))
    month.on(2, ENGINEER, engineer_body(name="小明", answer="已远程重启，请再试。"), "11-02 21:00")
    (answer,) = month.sent("answer", XING)
    assert "已远程重启" in body(answer) and month.ticket(2)["waiting_on"] is None
    # The reminder on 11-05, an automatic mail stored closed, then a resolve and a reopen.
    month.poll(
        "11-05 10:00",
        month.mail(
            NAN,
            "我正在休假。",
            "自动回复：休假",
            "11-05 10:00",
            headers={"Auto-Submitted": "auto-replied"},
        ),
    )
    assert [m["To"] for m in month.sent("reminder")] == [LV]
    assert month.listed("--all")[4]["status"] == "closed" and 4 not in month.listed()
    month.on(2, ENGINEER, engineer_body(status="已解决", solve="已换主控板。"), "11-06 10:00")
    month.on(2, XING, AGAIN, "11-08 10:00")
    assert (month.ticket(2)["status"], month.ticket(2)["waiting_on"]) == ("in_progress", "team")
    month.on(2, ENGINEER, engineer_body(status="已解决", solve="到场更换枪线。"), "11-09 10:00")
    # Two tickets on one pile: merged by command; then one by mail, one closed by command.
    month.opens(
        5, NAN, complete("南网快充", ORDER[2], PILE[2], 32, "计费异常"), "计费", "11-10 09:30"
    )
    month.opens(
        6, NAN, complete("南网快充", ORDER[3], PILE[2], 32, "又计费异常"), "计费", "11-10 09:40"
    )
    month.until(at("11-10 10:00"))
    month.cli("tickets", "merge", "6", "--into", "5", "--now", at("11-10 10:00").isoformat())
    month.opens(
        7, NAN, complete("南网快充", ORDER[4], PILE[2], 32, "第三次"), "计费", "11-10 11:00"
    )
    month.on(7, XIAOHONG, "同一根桩。\n合并到：工单#5\n", "11-10 12:00")
    month.until(at("11-10 13:00"))
    month.cli(
        "tickets", "close", "3", "--reason", "运营商未补充", "--now", at("11-10 13:00").isoformat()
    )
    assert sorted(month.listed()) == [5]  # open first; resolved by their status; closed: --all
    assert sorted(month.listed("--status", "resolved")) == [1, 2]
    assert sorted(month.listed("--all")) == [1, 2, 3, 4, 5, 6, 7]
    # 12-01: a new ticket on #1's thread (resolved 42 days ago), and the month's review.
    month.on(1, RONG, "电表又告警了，请再核实。", "11-30 10:00")
    assert month.ticket(8)["related"] == [1]
    out = month.cli(
        "stats",
        "--month",
        "2026-11",
        "--by",
        "engineer",
        "--format",
        "json",
        "--now",
        at("12-01 09:00").isoformat(),
    )
    mine = next(r for r in json.loads(out) if r["engineer"] == "小明")
    # #2: answered 11.5 h after it opened, last resolved 11-09 10:00 (168.5 h), reopened once.
    assert (mine["taken"], mine["first_response_median_hours"], mine["resolved"]) == (1, 11.5, 1)
    assert (mine["resolution_median_hours"], mine["reopened"]) == (168.5, 1)
