"""Engineers answer operators through the desk, hear of operators' follow-ups at once, and learn
when their mail did nothing (SPEC §13), through the real poll cycle on the Maildir default, on
SQLite and on a real PostgreSQL, every time given by --now. Each attack comes with the
legitimate engineer doing the same thing and succeeding."""

from __future__ import annotations

from itertools import count

import pytest
from sqlalchemy import update

from ingest.store.models import Ticket
from tests.conftest import make_mail
from tests.desk import ENGINEER, ENGINEER_TOML, FROM, Desk

OPERATOR = "ops@xingxing.example.cn"
ATTACKER = "mallory@evil.example.net"
TRUSTED = "mx.gongdan.example.cn"
PASS = f"{TRUSTED}; dkim=pass header.d=gongdan.example.cn header.s=s1"
COMPLETE = (
    "运营商：星星充电\n订单号：20261124081644614873\n问题描述：扫码后无法启动\n"
    "运营商初步排查结果：已重启，停止原因：34\n手机号：13512348382\n"
)
T0 = "2026-12-01T01:00:00+00:00"
T1 = "2026-12-01T02:00:00+00:00"
T2 = "2026-12-01T03:00:00+00:00"
T3 = "2026-12-01T04:00:00+00:00"
ANSWER = "已远程重启模块，请现场再试一次。如仍不行请联系 13912345678。"


@pytest.fixture
def make_desk(tmp_path, database_url):
    made = count()

    def make(desk: str = "", more: str = "") -> Desk:
        return Desk(
            tmp_path / f"desk{next(made)}",
            database_url,
            extra=f"[desk]\nparallel = false\n{desk}\n\n{ENGINEER_TOML}{more}",
        )

    return make


def poll(desk: Desk, now: str, *raws: bytes) -> None:
    for raw in raws:
        desk.deliver(raw)
    result = desk.gongdan("poll", "--now", now)
    assert result.exit_code == 0, result.output


def authenticated(raw: bytes, header: str = PASS) -> bytes:
    return f"Authentication-Results: {header}\r\n".encode() + raw


def engineer_mail(body: str, n: int, in_reply_to: str = "<op1@xingxing.example.cn>", **kw):
    return make_mail(
        body,
        subject=kw.pop("subject", "Re: 充电桩故障 [工单#1]"),
        sender=kw.pop("sender", ENGINEER),
        message_id=f"<e{n}@gongdan.example.cn>",
        in_reply_to=in_reply_to,
        **kw,
    )


def open_ticket(desk: Desk) -> None:
    """The operator opens a complete ticket (T0) and writes again on it (T1)."""
    poll(desk, T0, make_mail(COMPLETE, message_id="<op1@xingxing.example.cn>"))
    poll(
        desk,
        T1,
        make_mail(
            "请问进展如何？现场用户在等。",
            subject="Re: 充电桩故障 [工单#1]",
            message_id="<op2@xingxing.example.cn>",
            in_reply_to="<op1@xingxing.example.cn>",
        ),
    )


def of_kind(desk: Desk, kind: str) -> list:
    return [r for r in desk.rows() if r.kind == kind]


def events(desk: Desk, kind: str) -> list[dict]:
    (ticket,) = [t for t in desk.exported() if t["id"] == 1]
    return [e for e in ticket["events"] if e["kind"] == kind]


def replies_of(desk: Desk, kind: str, to: str) -> list:
    """The mails of outbox kind `kind` that reached `to`."""
    ids = {r.message_id for r in of_kind(desk, kind)}
    return [m for m in desk.replies_to(to) if m["Message-ID"] in ids]


# --- ---答复 is relayed to the ticket's operator ----------------------------------------------


def test_an_engineers_answer_reaches_the_operator_on_their_thread(make_desk):
    desk = make_desk()
    open_ticket(desk)
    desk.execute(update(Ticket).values(waiting_on="team"))
    body = f"---答复\n{ANSWER}\n---跟踪\n内部：模块批次有问题。\n"
    poll(desk, T2, engineer_mail(body, 1, in_reply_to="<op2@xingxing.example.cn>"))

    (answer,) = replies_of(desk, "answer", OPERATOR)
    text = answer.get_content()
    assert answer["From"].addresses[0].addr_spec == FROM
    assert answer["In-Reply-To"] == "<op2@xingxing.example.cn>"
    assert answer["Subject"] == "Re: 充电桩故障 [工单#1]"
    assert "已远程重启模块，请现场再试一次。" in text and "小明" in text
    assert "139****5678" in text and "13912345678" not in text
    assert ENGINEER not in answer.as_string() and "模块批次" not in text
    assert [r.to_addresses for r in of_kind(desk, "answer")] == [[OPERATOR]]
    (answered,) = events(desk, "answered")
    assert answered["by"] == ENGINEER and "已远程重启模块" in answered["detail"]["text"]
    assert desk.show(1)["status"] == "in_progress"
    (ticket,) = [t for t in desk.exported() if t["id"] == 1]
    assert ticket.get("waiting_on") in (None,) or "waiting_on" not in ticket
    assert not of_kind(desk, "not_understood")


def test_waiting_on_team_ends_with_the_answer(make_desk, database_url):
    from ingest.store import db

    desk = make_desk()
    open_ticket(desk)
    desk.execute(update(Ticket).values(waiting_on="team"))
    poll(desk, T2, engineer_mail("---跟踪\n在查。\n", 1))
    poll(desk, T3, engineer_mail(f"---答复\n{ANSWER}\n", 2))
    engine = db.open_database(database_url)
    try:
        with db.session(engine) as session:
            assert session.get(Ticket, 1).waiting_on is None
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "heading", ["---答复", "--回复", "------答覆：", "---答復", "-回覆", "---- 回復:"]
)
def test_every_answer_heading_is_relayed(make_desk, heading):
    desk = make_desk()
    open_ticket(desk)
    poll(desk, T2, engineer_mail(f"{heading}\n{ANSWER}\n", 1))
    (answer,) = replies_of(desk, "answer", OPERATOR)
    assert "已远程重启模块" in answer.get_content()


def test_tracking_and_analysis_stay_internal(make_desk):
    desk = make_desk()
    open_ticket(desk)
    poll(desk, T2, engineer_mail("---跟踪\n在查。\n---分析\n模块批次问题。\n答复：这不是标题\n", 1))
    assert not of_kind(desk, "answer") and not events(desk, "answered")
    assert len(desk.replies_to(OPERATOR)) == 1  # the ack only


def test_a_forged_engineers_answer_relays_nothing(make_desk):
    desk = make_desk(f'trusted_authserv_id = "{TRUSTED}"')
    open_ticket(desk)
    forged = engineer_mail(f"---答复\n请把密码发给 {ATTACKER}\n", 1)
    poll(desk, T2, forged, authenticated(forged, f"{TRUSTED}; dkim=fail header.d=x.example"))
    assert not of_kind(desk, "answer") and not events(desk, "answered")
    assert not of_kind(desk, "not_understood")
    # Control: the engineer, verified, is relayed.
    poll(desk, T3, authenticated(engineer_mail(f"---答复\n{ANSWER}\n", 2)))
    (answer,) = replies_of(desk, "answer", OPERATOR)
    assert ATTACKER not in answer.get_content()


def test_an_answer_on_a_thread_an_attacker_joined_goes_only_to_the_operator(make_desk):
    desk = make_desk()
    open_ticket(desk)
    (ack,) = desk.replies_to(OPERATOR)
    joined = make_mail(
        "我也是运营商，请把答复也发给我。",
        subject="Re: 充电桩故障 [工单#1]",
        sender=ATTACKER,
        message_id="<x1@evil.example.net>",
        in_reply_to=ack["Message-ID"],
        headers={"Reply-To": ATTACKER},
    )
    poll(desk, T2, joined)
    assert "outside_thread" in desk.flags_of("<x1@evil.example.net>")
    # The engineer answers the attacker's mail itself.
    poll(desk, T3, engineer_mail(f"---答复\n{ANSWER}\n", 1, in_reply_to="<x1@evil.example.net>"))
    assert desk.replies_to(ATTACKER) == []
    (answer,) = replies_of(desk, "answer", OPERATOR)
    assert answer["In-Reply-To"] == "<op2@xingxing.example.cn>"
    assert [r.to_addresses for r in of_kind(desk, "answer")] == [[OPERATOR]]


# --- An engineer learns when their mail did nothing ---------------------------------------------

NO_MARK = "状态(☑表示选定 ): 已解决 | 处理中 | 暂搁置\n"
TWO_MARKS = "状态(☑表示选定 ): ☑ 已解决 | ☑ 处理中 | 暂搁置\n"


def explained(desk: Desk) -> list:
    return replies_of(desk, "not_understood", ENGINEER)


@pytest.mark.parametrize("status", [NO_MARK, TWO_MARKS], ids=["no-mark", "two-marks"])
def test_a_status_line_without_one_mark_is_explained_to_the_engineer(make_desk, status):
    desk = make_desk()
    open_ticket(desk)
    poll(desk, T2, engineer_mail(status, 1))
    (note,) = explained(desk)
    text = note["Subject"], note.get_content()
    assert note["In-Reply-To"] == "<e1@gongdan.example.cn>" and "[工单#1]" in text[0]
    assert "状态(☑表示选定 ): ☑ 已解决 | 处理中 | 暂搁置" in text[1]
    assert desk.show(1)["status"] == "in_progress"
    assert [r.to_addresses for r in of_kind(desk, "not_understood")] == [[ENGINEER]]
    assert len(desk.replies_to(OPERATOR)) == 1  # the ack only
    # Control: one mark changes the status and gets no such reply.
    poll(desk, T3, engineer_mail(NO_MARK.replace("暂搁置", "☑ 暂搁置"), 2))
    assert desk.show(1)["status"] == "on_hold" and len(explained(desk)) == 1


def test_an_unknown_engineer_name_assigns_nothing_and_is_explained(make_desk):
    desk = make_desk(more='[[engineer]]\nname = "小红"\naddress = "xiaohong@gongdan.example.cn"\n')
    open_ticket(desk)
    poll(desk, T2, engineer_mail("售后(跟单)工程师: 小刚\n", 1))
    assert desk.show(1)["engineer"] is None
    (note,) = explained(desk)
    assert "小刚" in note.get_content() and "小明、小红" in note.get_content()
    # Control: a configured name assigns, silently.
    poll(desk, T3, engineer_mail("售后(跟单)工程师: 小红\n", 2))
    assert desk.show(1)["engineer"] == "小红" and len(explained(desk)) == 1


def test_a_ticket_number_that_does_not_exist_is_explained(make_desk):
    desk = make_desk()
    open_ticket(desk)
    mail = engineer_mail("---跟踪\n已处理。\n", 1, in_reply_to=None, subject="Re: 故障 [工单#99]")
    poll(desk, T2, mail)
    (note,) = explained(desk)
    assert "[工单#99]" in note.get_content()
    # Control: the right number joins the ticket, silently.
    poll(desk, T3, engineer_mail("---跟踪\n已处理。\n", 2, in_reply_to=None))
    assert len(explained(desk)) == 1


def test_an_empty_answer_is_explained_and_relays_nothing(make_desk):
    desk = make_desk()
    open_ticket(desk)
    poll(desk, T2, engineer_mail("---答复\n\n\n", 1))
    (note,) = explained(desk)
    assert "---答复" in note.get_content()
    assert not of_kind(desk, "answer")


def test_a_prefilled_reply_link_used_for_a_note_is_not_explained(make_desk):
    """The digest's links prefill an empty ---答复 and, while a ticket waits for the operator, an
    unmarked 状态 line: an engineer who only writes a 跟踪 note is understood."""
    desk = make_desk()
    open_ticket(desk)
    poll(desk, T2, engineer_mail(f"---答复\n\n\n---跟踪\n在查。\n\n{NO_MARK}\n", 1))
    assert not of_kind(desk, "not_understood") and not of_kind(desk, "answer")


def test_a_forged_engineer_is_never_answered(make_desk):
    desk = make_desk(f'trusted_authserv_id = "{TRUSTED}"')
    open_ticket(desk)
    poll(desk, T2, engineer_mail(NO_MARK, 1))
    assert not of_kind(desk, "not_understood") and desk.replies_to(ENGINEER) == []
    # Control: the verified engineer's same mail is explained.
    poll(desk, T3, authenticated(engineer_mail(NO_MARK, 2)))
    assert len(explained(desk)) == 1


def test_an_operator_is_never_told_what_was_not_understood(make_desk):
    desk = make_desk()
    open_ticket(desk)
    operator = make_mail(
        NO_MARK + "售后(跟单)工程师: 小刚\n---答复\n\n",
        subject="Re: 充电桩故障 [工单#1]",
        message_id="<op3@xingxing.example.cn>",
        in_reply_to="<op1@xingxing.example.cn>",
    )
    poll(desk, T2, operator)
    assert not of_kind(desk, "not_understood") and not of_kind(desk, "answer")


# --- The assigned engineer hears of an operator's follow-up at once -----------------------------

LEAD = "lead@gongdan.example.cn"
DIGEST = f'\n[digest]\nrecipients = ["{LEAD}"]\n'


def follow_up(text: str, n: int, ticket: int = 1, sender: str = OPERATOR, **kw) -> bytes:
    return make_mail(
        text,
        subject=f"Re: 充电桩故障 [工单#{ticket}]",
        sender=sender,
        message_id=f"<f{n}@{sender.split('@')[1]}>",
        in_reply_to=kw.pop("in_reply_to", f"<t{ticket}@xingxing.example.cn>"),
        **kw,
    )


def two_tickets(desk: Desk) -> None:
    """Ticket 1 assigned to 小明, ticket 2 to nobody (T0, T1)."""
    poll(
        desk,
        T0,
        make_mail(COMPLETE, message_id="<t1@xingxing.example.cn>"),
        make_mail(COMPLETE.replace("扫码", "刷卡"), message_id="<t2@xingxing.example.cn>"),
    )
    assign = engineer_mail("售后(跟单)工程师: 小明\n", 1, in_reply_to="<t1@xingxing.example.cn>")
    poll(desk, T1, assign)
    assert [t["engineer"] for t in (desk.show(1), desk.show(2))] == ["小明", None]


def notices_to(desk: Desk, address: str) -> list:
    return replies_of(desk, "engineer_notice", address)


def reply_link_body(text: str) -> str:
    from urllib.parse import unquote

    link = next(w for w in text.split() if w.startswith("mailto:"))
    return unquote(link.split("body=", 1)[1])


def test_engineers_hear_of_operators_followups_once_a_cycle(make_desk):
    desk = make_desk(more=DIGEST)
    two_tickets(desk)
    poll(
        desk,
        T2,
        follow_up("现场换了电源线，仍然报34。用户电话 13512348382。", 1),
        follow_up("补充：2号枪也一样。", 2),
        follow_up("刷卡还是不行，请尽快处理。", 3, ticket=2),
    )
    (notice,) = notices_to(desk, ENGINEER)
    text = notice.get_content()
    assert "[工单#1]" in text and "[工单#2]" not in text
    assert "现场换了电源线" in text and "2号枪也一样" in text and "135****8382" in text
    assert "13512348382" not in text
    body = reply_link_body(text)
    assert body.startswith("---答复\r\n\r\n\r\n---跟踪") and "售后(跟单)工程师: 小明" in body
    assert notice["From"].addresses[0].addr_spec == FROM
    (lead,) = notices_to(desk, LEAD)
    assert "[工单#2]" in lead.get_content() and "刷卡还是不行" in lead.get_content()
    assert all(r.to_addresses in ([ENGINEER], [LEAD]) for r in of_kind(desk, "engineer_notice"))
    assert not [r for r in desk.replies_to(OPERATOR) if "通知" in (r["Subject"] or "")]
    # A thanks says nothing: no notice the next cycle.
    poll(desk, T3, follow_up("好的，谢谢！", 4))
    assert len(of_kind(desk, "engineer_notice")) == 2


def test_notify_engineers_false_sends_no_notice(make_desk):
    desk = make_desk("notify_engineers = false", more=DIGEST)
    two_tickets(desk)
    poll(desk, T2, follow_up("现场换了电源线，仍然报34。", 1))
    assert not of_kind(desk, "engineer_notice")


def test_mail_from_outside_the_thread_notifies_nobody(make_desk):
    desk = make_desk(more=DIGEST)
    two_tickets(desk)
    (ack, *_) = desk.replies_to(OPERATOR)
    outsider = follow_up(
        "我是运营商，请把工单资料发给我。", 1, sender=ATTACKER, in_reply_to=ack["Message-ID"]
    )
    poll(desk, T2, outsider)
    assert not of_kind(desk, "engineer_notice")
    # Control: the operator's own follow-up is noticed.
    poll(desk, T3, follow_up("现场换了电源线，仍然报34。", 2))
    (notice,) = notices_to(desk, ENGINEER)
    assert ATTACKER not in notice.get_content()


def test_a_notice_never_goes_to_an_operator(make_desk):
    """Even when the digest's recipients wrongly name the operator."""
    desk = make_desk(more=f'\n[digest]\nrecipients = ["{OPERATOR}", "{LEAD}"]\n')
    two_tickets(desk)
    poll(desk, T2, follow_up("刷卡还是不行。", 1, ticket=2))
    assert [r.to_addresses for r in of_kind(desk, "engineer_notice")] == [[LEAD]]
