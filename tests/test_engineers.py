"""Engineers change status and assignment by email; nobody else can (SPEC §8)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from ingest.config import Config, Engineer
from ingest.rules.engineers import Change, engineer_changes
from ingest.store import db
from ingest.store.models import Message, Ticket, TicketEvent
from ingest.store.tickets import store_and_commit
from tests.clock import utcnow
from tests.conftest import make_mail

OPENING = (
    "运营商：星星充电\n问题描述：3号桩充不上电\n"
    "运营商初步排查结果：已重启\n订单号：20261124081644614873\n"
)
ENGINEER_REPLY = (
    "已安排处理。\n状态(☑表示选定 ): 已解决 | ☑ 处理中 | 暂搁置\n售后(跟单)工程师: 小明\n"
    "---跟踪\n已联系运营商，远程重启模块。\n----分析\n模块通讯超时。\n"
)
ENGINEER = "xiaoming@gongdan.example.cn"


@pytest.fixture
def store(database_url):
    db.upgrade(database_url)
    engine = db.open_database(database_url)
    session = db.session(engine)
    config = Config()
    config.engineers = [Engineer("小明", ENGINEER)]

    def put(raw, trusted=""):
        config.desk.trusted_authserv_id = trusted
        return store_and_commit(session, raw, config, now=utcnow())

    put.session = session
    yield put
    session.close()
    engine.dispose()


def events(session, ticket_id):
    return [
        (e.kind, e.by, e.detail)
        for e in session.exec(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.id)
        )
    ]


def reply(body, n, sender=ENGINEER, headers=None):
    return make_mail(
        body,
        subject="Re: 充电桩故障 [工单#1]",
        sender=sender,
        message_id=f"<e{n}@x.example.cn>",
        in_reply_to="<op1@xingxing.example.cn>",
        headers=headers,
    )


def test_engineer_sets_status_assignment_and_notes(store):
    ticket_id = store(make_mail(OPENING, message_id="<op1@xingxing.example.cn>")).ticket_id
    stored = store(
        reply(ENGINEER_REPLY.replace("☑ 处理中", "处理中").replace("暂搁置", "☑ 暂搁置"), 1)
    )
    ticket = store.session.get(Ticket, ticket_id)
    store.session.refresh(ticket)
    assert (ticket.status, ticket.engineer) == ("on_hold", "小明")
    assert ticket.tracking == "已联系运营商，远程重启模块。" and ticket.analysis == "模块通讯超时。"
    assert events(store.session, ticket_id) == [
        ("status_changed", ENGINEER, {"old": "in_progress", "new": "on_hold"}),
        ("assigned", ENGINEER, {"old": None, "new": "小明"}),
        ("note", ENGINEER, {"field": "tracking", "text": "已联系运营商，远程重启模块。"}),
        ("note", ENGINEER, {"field": "analysis", "text": "模块通讯超时。"}),
    ]
    assert stored.engineer is not None and not stored.resolved_now


def test_the_same_lines_from_an_operator_change_nothing(store):
    ticket_id = store(make_mail(OPENING, message_id="<op1@xingxing.example.cn>")).ticket_id
    stored = store(
        reply(
            ENGINEER_REPLY.replace("☑ 处理中", "处理中").replace("已解决", "√ 已解决"),
            2,
            sender="ops@xingxing.example.cn",
        )
    )
    ticket = store.session.get(Ticket, ticket_id)
    store.session.refresh(ticket)
    assert (ticket.status, ticket.engineer, ticket.tracking) == ("in_progress", None, None)
    assert events(store.session, ticket_id) == []
    assert stored.outcome == "follow_up"  # stored as a plain message


@pytest.mark.parametrize(
    "header,counts",
    [
        (None, False),
        ("mx.gongdan.example.cn; dkim=pass header.d=gongdan.example.cn header.s=s1", True),
        ("mx.gongdan.example.cn; spf=pass smtp.mailfrom=xiaoming@gongdan.example.cn", True),
        (
            "mx.gongdan.example.cn; dkim=fail header.d=gongdan.example.cn;"
            " spf=softfail smtp.mailfrom=x@y.cn",
            False,
        ),
        ("mx.gongdan.example.cn; dkim=pass header.d=evil.example.com", False),
        (
            "mx.evil.example.com; dkim=pass header.d=gongdan.example.cn",
            False,
        ),  # someone else's server
    ],
)
def test_trusted_authserv_id_requires_passing_authentication(store, header, counts):
    ticket_id = store(make_mail(OPENING, message_id="<op1@xingxing.example.cn>")).ticket_id
    headers = {"Authentication-Results": header} if header else None
    stored = store(reply(ENGINEER_REPLY, 3, headers=headers), trusted="mx.gongdan.example.cn")
    ticket = store.session.get(Ticket, ticket_id)
    store.session.refresh(ticket)
    assert (ticket.engineer == "小明") is counts
    kept = store.session.exec(
        select(Message).where(Message.message_id == "<e3@x.example.cn>")
    ).one()
    assert ("forged_engineer" in kept.flags) is (not counts)
    assert (stored.engineer is not None) is counts


def test_engineer_changes_are_pure_and_skip_repeats():
    current = {
        "status": "in_progress",
        "engineer": "小明",
        "tracking": "已联系",
        "analysis": None,
        "resolution": None,
    }
    assert (
        engineer_changes(
            current, {"status": "in_progress", "engineer": "小明", "tracking": "已联系"}
        )
        == []
    )
    assert engineer_changes(current, {"status": "resolved", "resolution": "已更换模块"}) == [
        Change("status_changed", "status", "in_progress", "resolved"),
        Change("note", "resolution", None, "已更换模块"),
    ]


def test_resolved_notice_goes_to_the_operator_once(desk):
    desk.deliver(make_mail(OPENING, subject="充电桩故障", message_id="<op1@xingxing.example.cn>"))
    desk.poll()
    (ack,) = desk.replies()
    resolved = (
        ENGINEER_REPLY.replace("☑ 处理中", "处理中").replace("已解决", "√ 已解决")
        + "---解决\n更换通讯模块。\n"
    )
    for n in (1, 2):  # the engineer sends the resolution twice
        desk.deliver(
            make_mail(
                resolved,
                subject=ack["Subject"],
                sender=ENGINEER,
                message_id=f"<res{n}@x.cn>",
                in_reply_to=ack["Message-ID"],
            )
        )
        desk.poll()
    replies = desk.replies()
    assert len(replies) == 2  # the ack, then one notice; the engineer gets nothing
    notice = replies[1]
    assert (
        notice["To"] == "ops@xingxing.example.cn"
        and notice["In-Reply-To"] == "<op1@xingxing.example.cn>"
    )
    assert notice["Subject"] == ack["Subject"] and notice["Auto-Submitted"] == "auto-replied"
    assert "已解决" in notice.get_content() and "更换通讯模块" in notice.get_content()
    (ticket,) = desk.tickets("--all")  # resolved: no longer among the open tickets listed first
    assert ticket["status"] == "resolved" and ticket["engineer"] == "小明"
    shown = desk.gongdan("tickets", "show", str(ticket["id"])).output
    assert "状态变更" in shown and "更换通讯模块" in shown
