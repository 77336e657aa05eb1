"""Who may change a ticket and who hears about it (SPEC §6a, §8), tried as an attacker would,
through the real poll cycle on the Maildir default, on SQLite and on a real PostgreSQL.

Every attack is paired with the legitimate user doing the same thing and succeeding, so that no
test passes by the desk doing nothing."""

from __future__ import annotations

import email
import json
import warnings
from itertools import count

import pytest

from tests.conftest import make_mail
from tests.desk import ENGINEER, ENGINEER_TOML, Desk

VICTIM = "victim@victim.example.cn"
TRUSTED = "mx.gongdan.example.cn"
# Incomplete (no order number, no findings): the attacker's follow-up would complete it.
OPENING = "运营商：星星充电\n桩站名称：万达广场站\n手机号：13512348382\n问题描述：3号桩充不上电\n"
COMPLETING = "订单号：20261124081644614873\n运营商初步排查结果：已重启，停止原因：34\n"
COMPLETE = OPENING + COMPLETING
# What the victim's ticket says, and must reach nobody else.
SECRETS = ("万达广场站", "3号桩充不上电", "135****8382", "星星充电")
RESOLVING = (
    "已处理。\n状态(☑表示选定 ): ☑ 已解决 | 处理中 | 暂搁置\n售后(跟单)工程师: 小明\n"
    "---解决\n更换通讯模块。\n"
)


def body(reply) -> str:
    return reply.get_content()


def quotes_victim(reply) -> bool:
    return any(secret in body(reply) for secret in SECRETS)


@pytest.fixture
def make_desk(tmp_path, database_url):
    made = count()

    def make(desk: str = "") -> Desk:
        return Desk(
            tmp_path / f"desk{next(made)}",
            database_url,
            extra=f"[desk]\nparallel = false\n{desk}\n\n{ENGINEER_TOML}",
        )

    return make


def open_victim_ticket(desk: Desk, sender: str = VICTIM) -> email.message.EmailMessage:
    """The victim opens an incomplete ticket; our request for information."""
    desk.poll(
        make_mail(
            OPENING, subject="充电桩充不上电", sender=sender, message_id="<v1@victim.example.cn>"
        )
    )
    (request,) = desk.replies_to(sender)
    assert "[工单#1]" in request["Subject"]
    return request


# --- A [工单#N] tag joins only for the thread's people ------------------------------------------

FREE_MAIL = [
    "vip.qq.com",
    "vip.163.com",
    "tom.com",
    "21cn.com",
    "188.com",
    "sina.com.cn",
    "yahoo.com.cn",
    "263.net",
    "msn.com",
    "googlemail.com",
]


@pytest.mark.parametrize("domain", FREE_MAIL)
def test_free_mail_neighbour_cannot_join_by_tag_but_the_opener_can(make_desk, domain):
    desk = make_desk()
    victim, stranger = f"victim@{domain}", f"stranger@{domain}"
    open_victim_ticket(desk, victim)

    # The stranger at the same free-mail domain quotes the ticket number and fills it in.
    desk.poll(
        make_mail(
            COMPLETING, subject="Re: x [工单#1]", sender=stranger, message_id=f"<s1@{domain}>"
        )
    )
    ticket = desk.show(1)
    assert "order_no" not in ticket["fields"] and ticket["status"] == "waiting_info"
    assert [m["from"] for m in ticket["messages"] if m["direction"] == "in"] == [victim]
    assert desk.flags_of(f"<s1@{domain}>") == ["foreign_ticket_tag"]
    (own,) = [t for t in desk.tickets() if t["operator_address"] == stranger]
    assert own["id"] == 2
    to_stranger = desk.replies_to(stranger)
    assert to_stranger and not any(quotes_victim(r) for r in to_stranger)
    assert all("[工单#2]" in r["Subject"] for r in to_stranger)

    # Control: the victim sends the same, and it completes their ticket with an ack to them.
    desk.poll(
        make_mail(COMPLETING, subject="Re: x [工单#1]", sender=victim, message_id=f"<v2@{domain}>")
    )
    ticket = desk.show(1)
    assert (
        ticket["fields"]["order_no"] == "20261124081644614873" and ticket["status"] == "in_progress"
    )
    ack = desk.replies_to(victim)[-1]
    assert "处理中" in body(ack) and "万达广场站" in body(ack) and "135****8382" in body(ack)


@pytest.mark.parametrize("listed", [False, True], ids=["domain-not-listed", "domain-listed"])
def test_spoofed_colleague_with_reply_to(make_desk, listed):
    """`From: boss@<victim's domain>` + the tag + `Reply-To: evil@…`: a colleague only when the
    domain is an operator domain, and the victim's data never goes to the Reply-To."""
    desk = make_desk('operator_domains = ["victim.example.cn"]' if listed else "")
    open_victim_ticket(desk)
    desk.poll(
        make_mail(
            COMPLETING,
            subject="Re: 充电桩充不上电 [工单#1]",
            sender="boss@victim.example.cn",
            message_id="<b1@victim.example.cn>",
            headers={"Reply-To": "evil@evil.example"},
        )
    )
    assert desk.replies_to("evil@evil.example") == []
    ticket = desk.show(1)
    to_boss = desk.replies_to("boss@victim.example.cn")
    if listed:
        # Control: a colleague at a listed operator domain completes the ticket and gets the ack.
        assert (
            ticket["fields"]["order_no"] == "20261124081644614873"
            and ticket["status"] == "in_progress"
        )
        assert desk.flags_of("<b1@victim.example.cn>") == []
        (ack,) = to_boss
        assert "[工单#1]" in ack["Subject"] and "万达广场站" in body(ack)
    else:
        assert "order_no" not in ticket["fields"] and ticket["status"] == "waiting_info"
        assert desk.flags_of("<b1@victim.example.cn>") == ["foreign_ticket_tag"]
        assert len(desk.tickets()) == 2  # the spoofed mail opened a ticket of its own
        assert to_boss and not any(quotes_victim(r) for r in to_boss)


def test_reply_to_a_listed_colleague_is_honoured(make_desk):
    """Control for the routing: a Reply-To in From's listed domain gets the reply, our own
    address and other domains never do."""
    desk = make_desk('operator_domains = ["victim.example.cn"]')
    desk.poll(
        make_mail(
            COMPLETE,
            subject="扫码无法启动",
            message_id="<r1@victim.example.cn>",
            sender=VICTIM,
            headers={"Reply-To": "boss@victim.example.cn"},
        ),
        make_mail(
            COMPLETE,
            subject="又一个",
            message_id="<r2@victim.example.cn>",
            sender=VICTIM,
            headers={"Reply-To": "support@gongdan.example.cn"},
        ),
    )
    assert [r["In-Reply-To"] for r in desk.replies_to("boss@victim.example.cn")] == [
        "<r1@victim.example.cn>"
    ]
    assert [r["In-Reply-To"] for r in desk.replies_to(VICTIM)] == ["<r2@victim.example.cn>"]
    assert desk.replies_to("support@gongdan.example.cn") == []


# --- The daily limit counts the mailbox a reply goes to ---------------------------------------


@pytest.mark.parametrize("variant", ["reply-to-elsewhere", "reply-to-plus", "from-plus"])
def test_thirty_addresses_of_one_sender_count_as_one(make_desk, variant):
    # A limit of 10 set here: the default (40) is more than the thirty mails below.
    domains = 'operator_domains = ["ops.example.cn"]\n' if variant == "reply-to-plus" else ""
    desk = make_desk(domains + "daily_reply_limit = 10")

    def mail(n: int) -> bytes:
        sender, headers = "ops@ops.example.cn", None
        if variant == "reply-to-elsewhere":
            headers = {"Reply-To": f"inbox{n}@evil{n}.example"}
        elif variant == "reply-to-plus":
            headers = {"Reply-To": f"ops+{n}@ops.example.cn"}
        else:
            sender = f"ops+{n}@ops.example.cn"
        return make_mail(
            COMPLETE,
            subject=f"故障{n}",
            sender=sender,
            message_id=f"<n{n}@ops.example.cn>",
            headers=headers,
        )

    # Two polls: the limit holds within a batch and across cycles.
    desk.poll(*[mail(n) for n in range(15)])
    desk.poll(*[mail(n) for n in range(15, 30)])
    replies = desk.replies()
    assert len(replies) == 10 and len(desk.tickets()) == 30
    assert all(r["To"].endswith("@ops.example.cn") for r in replies)
    assert sum("over_daily_limit" in flags for flags in desk.flags().values()) == 20
    # Control: another mailbox, even at the same domain, is still answered.
    desk.poll(
        make_mail(
            COMPLETE,
            subject="别的站",
            sender="else@ops.example.cn",
            message_id="<e1@ops.example.cn>",
        )
    )
    assert len(desk.replies_to("else@ops.example.cn")) == 1


# --- References join the conversation, not the thread ----------------------------------------


def test_references_from_a_stranger_are_stored_flagged_and_change_nothing(make_desk):
    desk = make_desk()
    request = open_victim_ticket(desk)
    desk.poll(
        make_mail(
            COMPLETING,
            subject=request["Subject"],
            sender="x@evil.example.com",
            message_id="<x1@evil.example.com>",
            in_reply_to=request["Message-ID"],
            references=f"<v1@victim.example.cn> {request['Message-ID']}",
        )
    )
    ticket = desk.show(1)
    assert "order_no" not in ticket["fields"] and ticket["status"] == "waiting_info"
    assert [e["kind"] for e in ticket["events"]] == [] and ticket["stop_codes"] == []
    stranger = [m for m in ticket["messages"] if m["from"] == "x@evil.example.com"]
    # Kept on the ticket, for engineers to see.
    assert [m["flags"] for m in stranger] == [["outside_thread"]]
    assert "线程外来信" in desk.gongdan("tickets", "show", "1").output  # the flag, in Chinese
    exported = json.loads(desk.gongdan("export", "--ticket", "1").output.splitlines()[0])
    assert ["outside_thread"] in [m["flags"] for m in exported["messages"]]
    assert desk.replies_to("x@evil.example.com") == [] and len(desk.tickets()) == 1

    # Control: the victim answers the same way and completes the ticket.
    desk.poll(
        make_mail(
            COMPLETING,
            subject=request["Subject"],
            sender=VICTIM,
            message_id="<v2@victim.example.cn>",
            in_reply_to=request["Message-ID"],
        )
    )
    ticket = desk.show(1)
    assert (
        ticket["fields"]["order_no"] == "20261124081644614873" and ticket["status"] == "in_progress"
    )
    assert [c["code"] for c in ticket["stop_codes"]] == [34]
    ack = desk.replies_to(VICTIM)[-1]
    assert ack["In-Reply-To"] == "<v2@victim.example.cn>" and "万达广场站" in body(ack)


# --- Authentication-Results -------------------------------------------------------------------

PASS = (
    f"{TRUSTED}; dkim=pass header.d=gongdan.example.cn header.s=s1;"
    f" spf=pass smtp.mailfrom={ENGINEER}"
)
FAIL = f"{TRUSTED}; dkim=fail header.d=gongdan.example.cn; spf=fail smtp.mailfrom={ENGINEER}"
OTHER = "mx.relay.example.net; dkim=fail header.d=gongdan.example.cn"


def with_headers(raw: bytes, *auth_results: str) -> bytes:
    """`raw` with Authentication-Results on top, in order: the first is the topmost."""
    return b"".join(f"Authentication-Results: {h}\r\n".encode() for h in auth_results) + raw


@pytest.mark.parametrize(
    "headers,forged",
    [
        ((FAIL, PASS), True),  # a passing header planted below ours
        ((PASS, FAIL), True),  # ours passes, yet the sender planted another with our id
        ((), True),  # an engineer's address, no header at all
        ((PASS,), False),  # control: the verified engineer
        ((PASS, OTHER), False),  # control: another server's header below ours is no forgery
    ],
    ids=["fail-above-pass", "pass-above-fail", "none", "pass", "pass-above-other-server"],
)
def test_engineer_mail_must_pass_the_topmost_authentication_results(make_desk, headers, forged):
    desk = make_desk(f'trusted_authserv_id = "{TRUSTED}"')
    desk.poll(
        make_mail(
            COMPLETE, subject="扫码无法启动", sender=VICTIM, message_id="<v1@victim.example.cn>"
        )
    )
    (ack,) = desk.replies_to(VICTIM)
    engineer_mail = make_mail(
        RESOLVING,
        subject=ack["Subject"],
        sender=ENGINEER,
        message_id="<eng1@gongdan.example.cn>",
        in_reply_to=ack["Message-ID"],
    )
    desk.poll(with_headers(engineer_mail, *headers))
    ticket = desk.show(1)
    notices = [r for r in desk.replies_to(VICTIM) if "更换通讯模块" in body(r)]
    if forged:
        assert (ticket["status"], ticket["engineer"], ticket["fields"].get("resolution")) == (
            "in_progress",
            None,
            None,
        )
        assert [e["kind"] for e in ticket["events"] if e["by"] == ENGINEER] == []
        assert {"forged_engineer", "outside_thread"} <= set(
            desk.flags_of("<eng1@gongdan.example.cn>")
        )
        assert notices == [] and [o["kind"] for o in ticket["outbox"]] == ["ack"]
    else:
        assert (ticket["status"], ticket["engineer"]) == ("resolved", "小明")
        assert desk.flags_of("<eng1@gongdan.example.cn>") == []
        assert len(notices) == 1 and [o["kind"] for o in ticket["outbox"]] == [
            "ack",
            "resolved_notice",
        ]
    assert desk.replies_to(ENGINEER) == []


@pytest.mark.parametrize("joined_by", ["tag", "in_reply_to"])
@pytest.mark.parametrize("verified", [False, True], ids=["no-header", "passing-header"])
def test_engineer_address_without_authentication_results_changes_nothing(
    make_desk, joined_by, verified
):
    """A forged engineer mail carrying operator fields, 状态, assignment and notes changes no
    field of any ticket, not even as an operator; the verified engineer's same mail does."""
    desk = make_desk(f'trusted_authserv_id = "{TRUSTED}"')
    request = open_victim_ticket(desk)
    overwrite = (
        "运营商：假运营商\n桩站名称：假站\n订单号：20261124081644614873\n问题描述：已处理完毕\n"
        "运营商初步排查结果：无\n" + RESOLVING + "---跟踪\n已远程重启。\n"
    )
    threading = {"in_reply_to": request["Message-ID"]} if joined_by == "in_reply_to" else {}
    raw = make_mail(
        overwrite,
        subject="Re: 充电桩充不上电 [工单#1]",
        sender=ENGINEER,
        message_id="<eng2@gongdan.example.cn>",
        **threading,
    )
    desk.poll(with_headers(raw, PASS) if verified else raw)
    ticket = desk.show(1)
    if verified:
        assert (ticket["status"], ticket["engineer"]) == ("resolved", "小明")
        assert (
            ticket["fields"]["station"] == "假站" and "已远程重启" in ticket["fields"]["tracking"]
        )
        return
    assert {
        k: ticket["fields"].get(k) for k in ("operator", "station", "order_no", "description")
    } == {
        "operator": "星星充电",
        "station": "万达广场站",
        "order_no": None,
        "description": "3号桩充不上电",
    }
    assert (ticket["status"], ticket["engineer"], ticket["events"]) == ("waiting_info", None, [])
    flags = desk.flags_of("<eng2@gongdan.example.cn>")
    assert "forged_engineer" in flags
    if joined_by == "tag":
        # Not on the thread: it opens a ticket of its own, which takes none of its fields either.
        assert "foreign_ticket_tag" in flags
        assert desk.show(2)["fields"] == {} and desk.show(2)["status"] == "waiting_info"
    else:
        assert "outside_thread" in flags and len(desk.tickets()) == 1
    assert desk.replies_to(ENGINEER) == [] and len(desk.replies()) == 1  # the request only


# --- Duplicates are the same Message-ID and the same sender ------------------------------------


def test_reused_message_id_from_another_sender_is_stored_and_flagged(make_desk):
    desk = make_desk()
    # The attacker sends first, under the Message-ID the victim's mail will carry.
    desk.poll(
        make_mail(
            "运营商：抢先\n问题描述：占位\n",
            subject="占位",
            sender="x@evil.example.com",
            message_id="<v1@victim.example.cn>",
        )
    )
    victim_mail = make_mail(
        COMPLETE, subject="扫码无法启动", sender=VICTIM, message_id="<v1@victim.example.cn>"
    )
    desk.poll(victim_mail)
    tickets = {t["operator_address"]: t for t in desk.tickets()}
    assert set(tickets) == {"x@evil.example.com", VICTIM}
    mine = desk.show(tickets[VICTIM]["id"])
    assert mine["fields"]["station"] == "万达广场站" and mine["status"] == "in_progress"
    assert [m["flags"] for m in mine["messages"] if m["direction"] == "in"] == [
        ["reused_message_id"]
    ]
    (ack,) = desk.replies_to(VICTIM)
    assert ack["In-Reply-To"] == "<v1@victim.example.cn>" and "万达广场站" in body(ack)

    # Control: the same mail again (a relay's copy with another Received line, or the same
    # bytes) is a duplicate: no second ticket, no second reply.
    desk.poll(b"Received: from relay2.victim.example.cn\r\n" + victim_mail, victim_mail)
    assert len(desk.tickets()) == 2 and len(desk.replies_to(VICTIM)) == 1
    # The victim's follow-up citing their own Message-ID finds their ticket, not the attacker's.
    desk.poll(
        make_mail(
            "补充：已更换枪头",
            subject="Re: 扫码无法启动",
            sender=VICTIM,
            message_id="<v2@victim.example.cn>",
            in_reply_to="<v1@victim.example.cn>",
        )
    )
    mine = desk.show(tickets[VICTIM]["id"])
    assert [
        m["flags"] for m in mine["messages"] if m["message_id"] == "<v2@victim.example.cn>"
    ] == [[]]


# --- The rules themselves, and a database made before them -------------------------------------


def test_on_thread_is_the_one_rule():
    from ingest.rules.threads import mailbox_of, on_thread

    people = ["ops@op.example.cn"]
    assert on_thread("OPS@op.example.cn", people, [])
    assert not on_thread("boss@op.example.cn", people, [])  # same domain, not listed
    assert on_thread("boss@op.example.cn", people, ["op.example.cn"])
    assert not on_thread("boss@other.example.cn", people, ["op.example.cn", "other.example.cn"])
    assert on_thread("anyone@gongdan.example.cn", people, [], engineer=True)
    assert not on_thread("ops@op.example.cn", people, [], forged=True)
    assert not on_thread("", people, ["op.example.cn"])
    assert [mailbox_of(a) for a in ("A+1@X.cn", "a+@x.cn", "a@x.cn", "+a@x.cn")] == [
        "a@x.cn",
        "a@x.cn",
        "a@x.cn",
        "+a@x.cn",
    ]


def test_upgrade_keeps_the_opener_on_the_thread_and_allows_a_reused_message_id(database_url):
    """A database from before revision 0003: its tickets' openers stay on their threads, and
    the same Message-ID may then be stored once per sender."""
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from alembic import command

    from ingest.store import db

    now = datetime(2026, 11, 25, 10, tzinfo=UTC)
    ticket = {
        "subject": "x",
        "template": "none",
        "status": "waiting_info",
        "operator_address": VICTIM,
        "missing": [],
        "invalid": {},
        "complete": False,
        "created_at": now,
        "updated_at": now,
    }
    message = {
        "message_id": "<m@x>",
        "in_reply_to": "",
        "references": [],
        "from_address": VICTIM,
        "to_addresses": [],
        "subject": "x",
        "text": "",
        "raw": b"x",
        "raw_sha256": "sha1",
        "size": 1,
        "mailbox": "",
        "direction": "in",
        "auto_submitted": False,
        "flags": [],
        "received_at": now,
    }

    def table(conn, name):
        with warnings.catch_warnings():  # message's index on an expression (migration 0009)
            warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression")
            return sa.Table(name, sa.MetaData(), autoload_with=conn)

    cfg = db._alembic_config(database_url)
    engine = db.make_engine(database_url)
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002")
        with engine.begin() as conn:
            conn.execute(table(conn, "ticket").insert(), ticket)
            conn.execute(table(conn, "message").insert(), {**message, "ticket_id": 1})
    finally:
        engine.dispose()
    db.upgrade(database_url)
    engine = db.open_database(database_url)
    try:
        with engine.begin() as conn:
            people = conn.execute(sa.select(table(conn, "ticket").c.thread_addresses)).scalar()
            assert (json.loads(people) if isinstance(people, str) else people) == [VICTIM]
            # Another sender under the same Message-ID is a mail of its own ...
            other = {**message, "from_address": "x@evil.example.com", "raw_sha256": "sha2"}
            conn.execute(table(conn, "message").insert(), other)
        # ... the same sender's is the same mail.
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(table(conn, "message").insert(), {**message, "raw_sha256": "sha3"})
    finally:
        engine.dispose()
