"""One form of an address, the sender in From's angle brackets, and public mail domains that are
never colleagues (SPEC §6b), tried as an attacker would through the real poll cycle (Maildir in,
Maildir or aiosmtpd out, SQLite and PostgreSQL), each attack with its legitimate control."""

from __future__ import annotations

import base64
from itertools import count

import pytest

from ingest.config import config_warnings, parse_config
from ingest.reading.addresses import canonical_address, canonical_domain, mailbox_of
from ingest.reading.email_reader import read_email
from ingest.reading.headers import claims_other_address
from ingest.rules.threads import on_thread
from tests.conftest import make_mail
from tests.desk import Desk, smtp_outgoing
from tests.servers import SmtpSink

OPENING = "运营商：星星充电\n桩站名称：万达广场站\n手机号：13512348382\n问题描述：3号桩充不上电\n"
COMPLETING = "订单号：20261124081644614873\n运营商初步排查结果：已重启，停止原因：34\n"
COMPLETE = OPENING + COMPLETING
SECRETS = ("万达广场站", "3号桩充不上电", "135****8382", "星星充电")
ORDER = "20261124081644614873"
CYRILLIC_A = "\u0430"  # а, looks like Latin a
SOFT_HYPHEN = "\u00ad"


def mail(body: str, sender: str, message_id: str, subject: str = "充电桩故障", **kw) -> bytes:
    """make_mail with a From header that may hold UTF-8 (RFC 6532), as real clients send it."""
    raw = make_mail(body, subject=subject, sender="PLACEHOLDER", message_id=message_id, **kw)
    return raw.replace(b"From: PLACEHOLDER", b"From: " + sender.encode("utf-8"), 1)


def text(reply) -> str:
    return reply.get_content()


@pytest.fixture
def make_desk(tmp_path, database_url):
    made = count()

    def make(desk: str = "", **kw) -> Desk:
        return Desk(
            tmp_path / f"desk{next(made)}",
            database_url,
            extra=f"[desk]\nparallel = false\n{desk}\n",
            **kw,
        )

    return make


# --- One form of an address: the rules ---------------------------------------------------------


def test_one_form_of_a_domain_and_a_mailbox():
    spellings = [
        "例子.cn",
        "xn--fsqu00a.cn",
        "ＸＮ--ＦＳＱＵ００Ａ.ＣＮ",
        f"例{SOFT_HYPHEN}子.cn",
        "例子。cn",
    ]
    assert {canonical_domain(s) for s in spellings} == {"xn--fsqu00a.cn"}
    assert canonical_domain("HuaTong.Example.CN") == "huatong.example.cn"
    # A look-alike in another script stays another domain.
    assert canonical_domain(f"hu{CYRILLIC_A}tong.example.cn") != "huatong.example.cn"
    assert canonical_address("张三@例子.cn") == "张三@xn--fsqu00a.cn"  # the local part is kept
    assert {mailbox_of(a) for a in ["OPS@X.cn", "ｏｐｓ+1@ｘ.cn", f"o{SOFT_HYPHEN}ps@x.cn"]} == {
        "ops@x.cn"
    }
    assert mailbox_of("boss@x.cn") != mailbox_of("ops@x.cn")  # control


def test_public_domains_never_vouch_for_a_colleague():
    for domain in ("vip.qq.com", "sina.com.cn", "ＶＩＰ.qq.com"):
        assert not on_thread("stranger@vip.qq.com", ["victim@vip.qq.com"], [domain])
    assert not on_thread("s@sina.com.cn", ["v@sina.com.cn"], ["sina.com.cn"])
    # Control: a company's own domain, listed, still does (and in any spelling).
    assert on_thread("boss@例子.cn", ["ops@xn--fsqu00a.cn"], ["例子.cn"])
    assert on_thread("boss@xn--fsqu00a.cn", ["ops@例子.cn"], ["例子.cn"])
    assert not on_thread(f"boss@hu{CYRILLIC_A}tong.cn", ["ops@huatong.cn"], ["huatong.cn"])


def test_listing_a_public_domain_draws_a_warning():
    toml = '[desk]\noperator_domains = ["huatong.example.cn", "VIP.QQ.com", "sina.com.cn"]\n'
    (warning,) = config_warnings(parse_config(toml))
    assert "vip.qq.com" in warning and "sina.com.cn" in warning
    assert "huatong" not in warning
    # Control: a company's own domains draw none.
    assert config_warnings(parse_config('[desk]\noperator_domains = ["例子.cn"]\n')) == []


# --- The sender is the address in From's angle brackets ----------------------------------------

OPS = "ops@huatong-charge.example.cn"
ATTACKER = "attacker@evil.example"
ENCODED = "=?utf-8?b?" + base64.b64encode(OPS.encode()).decode() + "?="
FORGED_FROM = {
    "quoted": f'"{OPS}" <{ATTACKER}>',
    "bare": f"{OPS} <{ATTACKER}>",
    "encoded": f"{ENCODED} <{ATTACKER}>",
    "comment": f"{ATTACKER} ({OPS})",
    "comment-before": f"({OPS}) <{ATTACKER}>",
}


@pytest.mark.parametrize("form", FORGED_FROM)
def test_the_sender_is_the_address_in_angle_brackets(form):
    read = read_email(mail("x", FORGED_FROM[form], "<f@evil.example>"))
    assert read.from_address == ATTACKER
    assert claims_other_address(read.from_name, read.from_address)


def test_a_display_name_holding_the_same_address_is_not_flagged():
    for header in (f'"{OPS}" <{OPS.upper()}>', f"运维 <{OPS}>", OPS):
        read = read_email(mail("x", header, "<f@x.example>"))
        assert read.from_address == OPS
        assert not claims_other_address(read.from_name, read.from_address)


def test_display_name_address_changes_nothing_on_the_victims_ticket(make_desk):
    desk = make_desk()
    desk.poll(mail(OPENING, OPS, "<v1@huatong-charge.example.cn>"))
    for n, header in enumerate(FORGED_FROM.values()):
        message_id = f"<a{n}@evil.example>"
        desk.poll(mail(COMPLETING, header, message_id, subject="Re: 故障 [工单#1]"))
        assert "display_name_address" in desk.flags_of(message_id)
        assert "order_no" not in desk.show(1)["fields"]
    # Views show the real address: every forged mail is from the attacker, on tickets of its own.
    opened = {t["id"]: t["operator_address"] for t in desk.tickets()}
    assert opened[1] == OPS and set(opened.values()) == {OPS, ATTACKER}
    assert not any(any(s in text(r) for s in SECRETS) for r in desk.replies_to(ATTACKER))
    # Control: the real operator's own mail completes the ticket.
    desk.poll(mail(COMPLETING, f"运维 <{OPS}>", "<v2@x.cn>", subject="Re: 故障 [工单#1]"))
    assert desk.show(1)["fields"]["order_no"] == ORDER
    assert desk.flags_of("<v2@x.cn>") == []


# --- The daily limit counts one mailbox however it is spelled ----------------------------------

MAILBOX = "ops@华通充电.cn"
A_LABEL = canonical_address(MAILBOX)  # ops@xn--….cn
SPELLINGS = [
    MAILBOX,
    "OPS@华通充电.CN",
    A_LABEL,
    A_LABEL.upper(),
    "ｏｐｓ@华通充电.cn",  # full-width letters
    f"op{SOFT_HYPHEN}s@华{SOFT_HYPHEN}通充电.cn",
    "ops@华通充电。ｃｎ",  # a full-width dot and letters
]


def test_seven_spellings_of_one_mailbox_get_at_most_the_limit(make_desk):
    desk = make_desk(f'daily_reply_limit = 3\noperator_domains = ["{MAILBOX.split("@")[1]}"]')
    desk.poll(*[mail(COMPLETE, s, f"<s{n}@x.cn>", f"故障{n}") for n, s in enumerate(SPELLINGS)])
    assert len(desk.tickets()) == 7
    replies = desk.replies()
    assert len(replies) == 3 and {r["To"] for r in replies} == {A_LABEL}
    assert sum("over_daily_limit" in f for f in desk.flags().values()) == 4
    # The same in a later cycle: still nothing for that mailbox.
    desk.poll(mail(COMPLETE, "Ops@Xn--" + A_LABEL.split("xn--")[1], "<late@x.cn>", "又一个"))
    assert len(desk.replies()) == 3
    # Control: another mailbox at the same domain is answered.
    desk.poll(mail(COMPLETE, "boss@华通充电.cn", "<b@x.cn>", "别的站"))
    assert len(desk.replies_to(canonical_address("boss@华通充电.cn"))) == 1


# --- operator_domains in one form --------------------------------------------------------------


def test_a_unicode_listed_domain_matches_its_a_labels_and_not_a_look_alike(make_desk):
    desk = make_desk('operator_domains = ["例子.cn", "huatong.example.cn"]')
    # The listed Unicode domain arriving as xn--: answered (control for the gate).
    desk.poll(mail(COMPLETE, "ops@xn--fsqu00a.cn", "<u1@x.cn>", "一"))
    assert len(desk.replies_to("ops@xn--fsqu00a.cn")) == 1
    # A Cyrillic look-alike of a listed domain is outside it: stored, flagged, not answered.
    lookalike = f"ops@hu{CYRILLIC_A}tong.example.cn"
    desk.poll(mail(COMPLETE, lookalike, "<c1@x.cn>", "二"))
    assert "outside_operator_domains" in desk.flags_of("<c1@x.cn>")
    assert desk.replies_to(canonical_address(lookalike)) == []

    # The look-alike quoting a colleague's ticket tag joins nothing ...
    desk.poll(mail(OPENING, "victim@huatong.example.cn", "<v1@x.cn>", "三"))
    (victim,) = [t for t in desk.tickets() if t["operator_address"] == "victim@huatong.example.cn"]
    tag = f"Re: 三 [工单#{victim['id']}]"
    desk.poll(mail(COMPLETING, f"boss@hu{CYRILLIC_A}tong.example.cn", "<c2@x.cn>", tag))
    assert "foreign_ticket_tag" in desk.flags_of("<c2@x.cn>")
    assert "order_no" not in desk.show(victim["id"])["fields"]
    # ... while the real colleague, spelled in full-width letters, does.
    desk.poll(mail(COMPLETING, "boss@ＨＵＡＴＯＮＧ.example.cn", "<c3@x.cn>", tag))
    assert desk.flags_of("<c3@x.cn>") == []
    assert desk.show(victim["id"])["fields"]["order_no"] == ORDER


def test_an_engineer_listed_in_any_spelling_is_the_engineer(make_desk):
    desk = make_desk('\n[[engineer]]\nname = "小明"\naddress = "XiaoMing@例子.cn"\n')
    desk.poll(mail(OPENING, "ops@op.example.cn", "<o1@x.cn>"))
    desk.poll(
        mail(
            "状态(☑表示选定 ): 已解决 | ☑ 处理中 | 暂搁置\n售后(跟单)工程师: 小明\n",
            "xiaoming@xn--fsqu00a.cn",
            "<e1@x.cn>",
            "Re: 故障 [工单#1]",
        )
    )
    ticket = desk.show(1)
    assert ticket["status"] == "in_progress" and ticket["engineer"] == "小明"


# --- Public mail domains are never colleagues --------------------------------------------------


@pytest.mark.parametrize("domain", ["vip.qq.com", "sina.com.cn"])
def test_a_public_domain_listed_as_an_operator_domain_is_no_colleague(make_desk, domain):
    desk = make_desk(f'operator_domains = ["{domain}"]')
    victim, stranger = f"victim@{domain}", f"stranger@{domain}"
    desk.poll(mail(OPENING, victim, f"<v1@{domain}>", "充电桩充不上电"))
    desk.poll(mail(COMPLETING, stranger, f"<s1@{domain}>", "Re: x [工单#1]"))
    ticket = desk.show(1)
    assert "order_no" not in ticket["fields"] and "operator_findings" not in ticket["fields"]
    assert desk.flags_of(f"<s1@{domain}>") == ["foreign_ticket_tag"]
    assert not any(any(s in text(r) for s in SECRETS) for r in desk.replies_to(stranger))
    # A Reply-To at the public domain does not get the victim's data either.
    desk.poll(
        mail(COMPLETING, victim, f"<v2@{domain}>", "Re: x [工单#1]", headers={"Reply-To": stranger})
    )
    assert not any(any(s in text(r) for s in SECRETS) for r in desk.replies_to(stranger))
    # Control: the victim's own follow-up completed it, and the ack went to the victim.
    ticket = desk.show(1)
    assert ticket["fields"]["order_no"] == ORDER and ticket["status"] == "in_progress"
    assert "万达广场站" in text(desk.replies_to(victim)[-1])
    # `status` says so, and its exit code stays the desk's health.
    code, report = desk.status()
    assert code == 0 and report["healthy"]
    assert any(domain in n and "operator_domains" in n for n in report["notices"])
    assert desk.gongdan("status").exit_code == 0


# --- A non-ASCII local part: SMTPUTF8 where offered, a visible failure where not ---------------

ZHANG = "张三@例子.cn"


@pytest.mark.servers
@pytest.mark.parametrize("offered", [True, False], ids=["smtputf8", "no-smtputf8"])
def test_a_non_ascii_local_part_is_answered_with_smtputf8(make_desk, offered):
    sink = SmtpSink(smtputf8=offered)
    sink.start()
    try:
        desk = make_desk(smtp=sink, outgoing=smtp_outgoing(sink.port))
        desk.poll(mail(COMPLETE, f"张三 <{ZHANG}>", "<z1@x.cn>"))
        assert desk.tickets()[0]["operator_address"] == "张三@xn--fsqu00a.cn"
        if offered:
            (received,) = sink.messages
            assert received.rcpt_tos == ("张三@xn--fsqu00a.cn",)
            assert "SMTPUTF8" in sink.mail_options[-1]
            assert "万达广场站" in text(desk.replies()[0])
        else:
            assert sink.messages == []
            (row,) = desk.rows()
            assert row.state == "failed" and "SMTPUTF8" in (row.last_error or "")
            code, report = desk.status()
            assert report["outbox"]["failed"] == 1
            # Control: an ASCII address on the same server is answered.
            desk.poll(mail(COMPLETE, "ops@op.example.cn", "<z2@x.cn>", "又一个"))
            assert [m.rcpt_tos for m in sink.messages] == [("ops@op.example.cn",)]
    finally:
        sink.stop()
