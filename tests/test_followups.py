"""An operator's follow-up is work for the team, and reopens a closed-off ticket (SPEC §13)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from ingest.reading.addresses import canonical_address
from ingest.rules import followups
from tests.conftest import make_mail
from tests.desk import COMPLETE, ENGINEER, ENGINEER_TOML, Desk

T0 = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
OPS = "ops@xingxing.example.cn"
ASK = "请问这个工单处理进度如何？现场用户一直在投诉。联系人电话13512348382"
MX = "mx.gongdan.example.cn"


# --- the pure rules ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,attachments,says",
    [
        (ASK, [], True),
        ("谢谢！", [], False),
        ("好的，收到", [], False),
        ("收到，谢谢", [], False),
        ("谢谢\n发自我的iPhone", [], False),
        ("", ["photo.jpg"], True),
        ("谢谢", ["log.txt"], True),
        ("问题又出现了，请再核实", [], True),
        ("谢谢，但是问题还是没有解决，桩仍然报错", [], True),
    ],
)
def test_says_something(text, attachments, says):
    assert followups.says_something(followups.new_text(text), attachments) is says


def test_new_text_drops_quoted_history():
    body = f"{ASK}\n\n-----原始邮件-----\n发件人: support@gongdan.example.cn\n已收到问题。"
    assert followups.new_text(body) == ASK
    assert followups.new_text("谢谢\n> 已收到问题。\n> 运营商：星星充电") == "谢谢"


def test_notices_list_each_recipient_s_tickets_in_the_order_the_mail_was_stored():
    """What a follow-up says goes to its ticket's engineer (none assigned: the fallback), never
    to an address on the ticket's thread; a thanks, or an engineer's own mail, says nothing."""
    lead = "lead@gongdan.example.cn"

    def stored(n, ticket_id, text, sender=OPS):
        at = T0 + timedelta(minutes=n)
        return SimpleNamespace(
            ticket_id=ticket_id, flags=[], from_address=sender, text=text, raw=b"", received_at=at
        )

    def ticket(n, engineer):
        return SimpleNamespace(
            id=n,
            subject=f"充电故障{n}",
            status="in_progress",
            engineer=engineer,
            operator_address=OPS,
            thread_addresses=[],
        )

    mail = [
        stored(1, 2, "谢谢"),
        stored(2, 1, ASK),
        stored(3, 2, "问题又出现了，请再核实"),
        stored(4, 1, "已处理", sender=ENGINEER),
    ]
    notices = followups.notices_of(
        mail,
        {1: ticket(1, "小明"), 2: ticket(2, None)},
        {canonical_address(ENGINEER): "小明"},
        {"小明": ENGINEER},
        [lead, OPS],
    )
    assert [(n.to, n.name, [t["id"] for t in n.tickets]) for n in notices] == [
        (ENGINEER, "小明", [1]),
        (lead, "", [2]),
    ]
    assert notices[0].tickets[0]["messages"] == [
        {"at": T0 + timedelta(minutes=2), "sender": OPS, "text": ASK}
    ]


def test_a_bare_thanks_tells_the_engineer_only_when_it_brings_an_attachment():
    """news_of reads a stored mail again only when its text says nothing: then an attachment
    (a photo of the charger's screen) decides."""
    thanks = SimpleNamespace(
        flags=[], from_address=OPS, text="谢谢", raw=attached_mail(), received_at=T0
    )
    assert followups.news_of(thanks, {}) == {"at": T0, "sender": OPS, "text": "谢谢"}
    bare = make_mail("谢谢", sender=OPS)
    assert followups.news_of(SimpleNamespace(**{**vars(thanks), "raw": bare}), {}) is None
    # A mail that cannot be read again has no attachment to show, and stops nothing.
    assert followups.news_of(SimpleNamespace(**{**vars(thanks), "raw": b"\xff" * 10}), {}) is None


def test_reopen_window_and_waiting():
    day = timedelta(days=1)
    assert followups.reopen("resolved", T0, T0 + 2 * day, 30 * day) == "reopen"
    assert followups.reopen("on_hold", T0, T0 + 31 * day, 30 * day) == "new"
    assert followups.reopen("in_progress", T0, T0 + 31 * day, 30 * day) is None
    wait = followups.waiting_after
    assert (
        wait(None, says=True, became_complete=False, changed_fields=False, complete=True) == "team"
    )
    assert (
        wait(None, says=False, became_complete=False, changed_fields=False, complete=True) is None
    )
    assert (
        wait("team", says=True, became_complete=False, changed_fields=True, complete=False)
        == "operator"
    )
    assert followups.first_lines("一\n\n二\n三") == "一\n二"
    assert len(followups.first_lines("长" * 300)) == 120


# --- through the desk -------------------------------------------------------------------------


def auth(sender: str) -> dict:
    domain = sender.split("@")[1]
    return {"Authentication-Results": f"{MX}; dkim=pass header.d={domain} header.s=s1"}


def at(when: datetime) -> str:
    return when.isoformat()


@pytest.fixture
def desk(tmp_path):
    extra = f'{ENGINEER_TOML}\n[desk]\ntrusted_authserv_id = "{MX}"\n'
    extra += '[digest]\nrecipients = ["aftersales@gongdan.example.cn"]\n'
    return Desk(tmp_path, f"sqlite:///{tmp_path}/gongdan.db", extra=extra)


def poll(desk: Desk, now: datetime, *raws: bytes) -> None:
    for raw in raws:
        desk.deliver(raw)
    result = desk.gongdan("poll", "--now", at(now))
    assert result.exit_code == 0, result.output


def opened(desk: Desk) -> dict:
    poll(desk, T0, make_mail(COMPLETE, message_id="<m1@xingxing.example.cn>", sender=OPS))
    return desk.show(1)


def follow(body: str, n: int, sender: str = OPS, headers: dict | None = None, **kw) -> bytes:
    return make_mail(
        body,
        subject="Re: 充电桩故障 [工单#1]",
        sender=sender,
        message_id=f"<f{n}@{sender.split('@')[1]}>",
        in_reply_to="<m1@xingxing.example.cn>",
        headers=headers,
        **kw,
    )


def engineer_says(status: str, n: int) -> bytes:
    body = f"状态(☑表示选定 ): {status}\n---跟踪\n已处理\n"
    return follow(body, n, sender=ENGINEER, headers=auth(ENGINEER))


def test_a_progress_question_waits_for_the_team_and_is_shown(desk):
    assert opened(desk)["waiting_on"] is None
    quoted = f"{ASK}\n\n-----原始邮件-----\n发件人: {OPS}\n运营商：星星充电"
    poll(desk, T0 + timedelta(hours=1), follow(quoted, 2))
    shown = desk.show(1)
    assert shown["waiting_on"] == "team"
    assert shown["related"] == []
    texts = [m["text"] for m in shown["messages"] if m["direction"] == "in"]
    assert texts[-1] == ASK.replace("13512348382", "135****8382")
    assert [t["waiting_on"] for t in desk.tickets()] == ["team"]
    listing = desk.gongdan("tickets", "list")
    assert "等待" in listing.output and "工程师" in listing.output
    human = desk.gongdan("tickets", "show", "1").output
    assert "运营商" in human and "现场用户一直在投诉" in human and "13512348382" not in human
    # An engineer's verified mail on the thread answers it.
    poll(desk, T0 + timedelta(hours=2), engineer_says("☑处理中 □已解决 □暂搁置", 3))
    assert desk.show(1)["waiting_on"] is None


def test_a_bare_thanks_waits_for_nobody(desk):
    opened(desk)
    poll(desk, T0 + timedelta(hours=1), follow("谢谢！\n\n> 已收到问题。", 2))
    assert desk.show(1)["waiting_on"] is None


def test_digest_lists_operator_mail_waiting_for_the_team(desk):
    opened(desk)
    poll(desk, T0 + timedelta(hours=1), follow(ASK, 2))
    out = desk.root / "digest.html"
    now = T0 + timedelta(hours=7)
    result = desk.gongdan("digest", "--now", at(now), "--out", str(out))
    assert result.exit_code == 0, result.output
    # The digest, beside the notice the follow-up gave the recipients at once (SPEC §13).
    to_team = [r for r in desk.replies() if r["To"] == "aftersales@gongdan.example.cn"]
    assert [r["Subject"].startswith("运营商来信待回复") for r in to_team] == [True, False]
    mail = to_team[1]
    text = mail.get_body(("plain",)).get_content()
    html = out.read_text("utf-8")
    for shown in (text, html):
        assert "运营商来信待回复" in shown and "13512348382" not in shown
        section = shown.split("运营商来信待回复", 1)[1]
        assert "#1" in section and "6小时" in section and "现场用户一直在投诉" in section


def resolved(desk: Desk) -> None:
    opened(desk)
    poll(desk, T0 + timedelta(hours=1), engineer_says("□处理中 ☑已解决 □暂搁置", 2))
    assert desk.show(1)["status"] == "resolved"


def test_within_the_window_the_operator_reopens(desk):
    resolved(desk)
    poll(desk, T0 + timedelta(days=3), follow("问题又出现了，停止原因还是34，请再核实", 3))
    shown = desk.show(1)
    assert shown["status"] == "in_progress" and shown["waiting_on"] == "team"
    assert [e["kind"] for e in shown["events"]][-1] == "reopened"
    assert len(desk.tickets()) == 1


def test_after_the_window_a_new_ticket_names_the_old_one(desk):
    resolved(desk)
    poll(
        desk,
        T0 + timedelta(days=40),
        follow("问题又出现了，请再核实", 3, date="Thu, 10 Jan 2027 10:00:00 +0800"),
    )
    assert desk.show(1)["status"] == "resolved"
    assert desk.show(2)["related"] == [1]


@pytest.mark.parametrize(
    "raw",
    [
        # An outsider quoting the tag (no references): a ticket of their own, never ours reopened.
        make_mail(
            "问题又出现了，请再核实",
            subject="Re: [工单#1]",
            sender="x@evil.example.com",
            message_id="<x1@evil.example.com>",
        ),  # fmt: skip
        # An outsider on the References: kept on the thread, outside it.
        follow("问题又出现了，请再核实", 3, sender="x@evil.example.com"),
        # A forged engineer (no passing authentication).
        follow("问题又出现了，请再核实", 3, sender=ENGINEER),
        # An automatic reply from the operator.
        follow("我正在休假，问题又出现了请找同事", 3, headers={"Auto-Submitted": "auto-replied"}),
        # A look-alike of the operator's domain.
        follow("问题又出现了，请再核实", 3, sender="ops@xingxing.example.cn.evil.example.com"),
        follow("问题又出现了，请再核实", 3, sender="ops@xn--xingxng-1za.example.cn"),
        # A bare thanks.
        follow("谢谢！", 3),
    ],
)
def test_nobody_but_the_operator_reopens(desk, raw):
    resolved(desk)
    poll(desk, T0 + timedelta(days=2), raw)
    shown = desk.show(1)
    assert shown["status"] == "resolved" and shown["waiting_on"] is None
    assert "reopened" not in [e["kind"] for e in shown["events"]]
    # The positive control: the real operator still can.
    poll(desk, T0 + timedelta(days=2, hours=1), follow("问题又出现了，请再核实", 9))
    assert desk.show(1)["status"] == "in_progress"


def attached_mail() -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"] = OPS, "support@gongdan.example.cn"
    msg["Subject"], msg["Message-ID"] = "Re: 充电桩故障 [工单#1]", "<f5@xingxing.example.cn>"
    msg["In-Reply-To"] = "<m1@xingxing.example.cn>"
    msg.set_content("")
    msg.add_attachment(b"\x89PNG fake", maintype="image", subtype="png", filename="现场.png")
    return msg.as_bytes()


def test_attachments_are_listed_and_written_privately(desk, tmp_path):
    opened(desk)
    poll(desk, T0 + timedelta(hours=1), attached_mail())
    shown = desk.show(1)
    assert shown["waiting_on"] == "team"
    assert shown["messages"][-1]["attachments"] == [
        {"name": "现场.png", "type": "image/png", "size": 9}
    ]
    assert desk.exported()[0]["messages"][-1]["attachments"][0]["name"] == "现场.png"
    assert "附件1: 现场.png" in desk.gongdan("tickets", "show", "1").output
    out = tmp_path / "a.png"
    assert desk.gongdan("tickets", "attachment", "1", "1", "--out", str(out)).exit_code == 0
    assert out.read_bytes() == b"\x89PNG fake" and (os.stat(out).st_mode & 0o777) == 0o600
    for args, said in [
        (("9", "1"), "no ticket #9"),
        (("1", "2"), "has no attachment 2"),
    ]:
        result = desk.gongdan("tickets", "attachment", *args, "--out", str(out))
        assert result.exit_code == 1 and said in result.output
    bad = desk.gongdan("tickets", "attachment", "1", "1", "--out", str(tmp_path / "no/such/f"))
    assert bad.exit_code == 1 and "cannot write" in bad.output and len(bad.output.splitlines()) == 1


# --- through Dovecot, aiosmtpd and PostgreSQL --------------------------------------------------


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_follow_up_and_reopen_on_real_servers(
    tmp_path, dovecot, dovecot_user, smtp_sink, database_url
):
    from tests.desk import imap_desk

    extra = '\n[desk]\n\n[digest]\nrecipients = ["aftersales@gongdan.example.cn"]\n'
    desk = imap_desk(tmp_path, dovecot, dovecot_user, smtp_sink, database_url, extra=extra)
    opened(desk)
    poll(desk, T0 + timedelta(hours=1), follow(ASK, 2))
    assert desk.show(1)["waiting_on"] == "team"
    result = desk.gongdan("digest", "--now", at(T0 + timedelta(hours=3)))
    assert result.exit_code == 0, result.output
    notice, mail = desk.replies_to("aftersales@gongdan.example.cn")  # at once, then the digest
    assert notice["Subject"].startswith("运营商来信待回复")
    text = mail.get_body(("plain",)).get_content()
    assert "运营商来信待回复" in text and "已等待2小时" in text and "135****8382" in text
    poll(desk, T0 + timedelta(hours=5), engineer_says("□处理中 ☑已解决 □暂搁置", 4))
    assert desk.show(1)["status"] == "resolved" and desk.show(1)["waiting_on"] is None
    poll(desk, T0 + timedelta(days=5), follow("问题又出现了，请再核实", 5))
    shown = desk.show(1)
    assert shown["status"] == "in_progress" and shown["waiting_on"] == "team"
    assert "reopened" in [e["kind"] for e in shown["events"]]
