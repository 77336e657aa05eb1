"""Delivery failure reports (SPEC §6a): what ingest/reading/bounces.py says a bounce is about,
and that the copy of our reply inside it is never read as fields or stop codes."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import update
from sqlmodel import select

from ingest.config import Config
from ingest.desk.findings import report_json
from ingest.desk.health import status
from ingest.reading.ticket import read_ticket
from ingest.rules.decide import message_action
from ingest.store import db, outbox
from ingest.store.models import Outbox, Ticket
from ingest.store.tickets import store_and_commit
from replies.digest import collect, render
from tests.clock import utcnow
from tests.conftest import make_mail
from tests.desk import COMPLETE, INCOMPLETE

EMAILS = Path(__file__).resolve().parent / "fixtures" / "emails"
ACK_ID = "<gongdan.1764295200123456789.3f2a9c1d5e7b8a60@desk.example.cn>"


def read(name: str):
    return read_ticket((EMAILS / name).read_bytes())


def test_163_system_bounce_names_our_ack_and_reads_nothing_from_it():
    got = read("h01_163_system_bounce_of_our_ack.eml")
    assert got.bounce is not None
    assert got.bounce.message_ids == (ACK_ID,)
    assert got.bounce.subject == "Re: 充电桩故障 [工单#12]"
    assert "收件人邮箱地址不存在" in got.bounce.own_text
    # The returned ack holds 运营商/订单号/… and `34 紧急停机`: none of it is the bounce's.
    assert got.fields == {} and got.stop_codes == []
    assert got.auto_submitted and message_action(got) == "none"


def test_qmail_text_bounce_cuts_the_inline_copy():
    got = read("h02_qmail_text_bounce_of_our_ack.eml")
    assert got.bounce.message_ids == (ACK_ID,)
    assert got.bounce.subject == "Re: 充电桩故障 [工单#12]"
    assert got.bounce.own_text.startswith("Hi. This is the qmail-send program")
    assert "运营商" not in got.bounce.own_text
    assert got.fields == {} and got.stop_codes == []


def test_postfix_dsn_gives_the_returned_id_subject_and_recipient():
    got = read("48_postfix_dsn.eml")
    assert got.bounce.message_ids == ("<gongdan.11.1710036000@example.cn>",)
    assert got.bounce.subject == "充电桩故障工单"
    assert got.bounce.recipients == ("nobody@example.com",)


def test_exchange_ndr_is_a_bounce_of_the_mail_it_answers():
    got = read("47_exchange_undeliverable.eml")
    assert got.bounce.message_ids == ("<gongdan.11.1710036000@example.cn>",)
    assert got.bounce.recipients == ("nobody@example.com",)


def test_postfix_plain_text_bounce_without_mime():
    raw = (
        "Return-Path: <>\n"
        "From: MAILER-DAEMON@mx.desk.example.cn (Mail Delivery System)\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "\n"
        "This is the mail system at host mx.desk.example.cn.\n"
        "\n"
        "I'm sorry to have to inform you that your message could not\n"
        "be delivered to one or more recipients.\n"
        "\n"
        "<wang@ops.example.cn>: host mx.ops.example.cn said: 550 User unknown\n"
        "\n"
        "Received: by mx.desk.example.cn (Postfix) id 4F2A1C0123\n"
        "Message-ID: <gongdan.9.1@desk.example.cn>\n"
        "Subject: Re: 停止原因：34 [工单#9]\n"
        "\n"
        "运营商：云能充\n停止代号：\n    34 紧急停机\n"
    ).encode()
    got = read_ticket(raw)
    assert got.bounce.message_ids == ("<gongdan.9.1@desk.example.cn>",)
    assert got.bounce.subject == "Re: 停止原因：34 [工单#9]"
    assert got.fields == {} and got.stop_codes == []


def test_a_delay_warning_and_a_read_receipt_are_automatic_but_no_bounce():
    delayed = (
        (EMAILS / "48_postfix_dsn.eml").read_bytes().replace(b"Action: failed", b"Action: delayed")
    )
    for got in (read_ticket(delayed), read("49_read_receipt.eml")):
        assert got.bounce is None
        assert got.auto_submitted and message_action(got) == "none"


def test_an_operator_writing_is_no_bounce():
    got = read("24_seed_example.eml")
    assert got.bounce is None and got.fields


# ---- a bounce about one of our replies, stored (ingest/store/bounces.py) ------------------------

OPERATOR = "wang@ops.example.cn"
ACK_SUBJECT = "Re: 充电桩故障 [工单#12]"


def _with_ticket(engine, config, ack_id: str = ACK_ID, sender: str = OPERATOR):
    """A ticket from `sender` whose ack `ack_id` went out; returns its id."""
    with db.session(engine) as session:
        stored = store_and_commit(
            session,
            make_mail(INCOMPLETE, sender=sender, message_id=f"<op.{sender}>"),
            config,
            now=utcnow(),
        )
        outbox.enqueue(
            session.connection(),
            outbox.Outgoing(
                kind="ack",
                raw=b"Subject: ack\r\n\r\nack\r\n",
                message_id=ack_id,
                to=[sender],
                ticket_id=stored.ticket_id,
                caused_by=stored.message_db_id,
                subject=ACK_SUBJECT,
                from_address="support@desk.example.cn",
            ),
            utcnow(),
        )
        session.execute(update(Outbox).where(Outbox.message_id == ack_id).values(state="sent"))
        session.commit()
        return stored.ticket_id


def _store(engine, config, raw: bytes):
    with db.session(engine) as session:
        return store_and_commit(session, raw, config, now=utcnow())


def _ticket_and_reply(engine, ticket_id: int, ack_id: str = ACK_ID):
    with db.session(engine) as session:
        ticket = session.get(Ticket, ticket_id)
        row = session.exec(select(Outbox).where(Outbox.message_id == ack_id)).one()
        session.expunge_all()
        return ticket, row


def test_163_bounce_of_our_ack_marks_it_and_joins_its_ticket_changing_nothing(engine):
    config = Config()
    ticket_id = _with_ticket(engine, config)
    before, _ = _ticket_and_reply(engine, ticket_id)
    stored = _store(engine, config, (EMAILS / "h01_163_system_bounce_of_our_ack.eml").read_bytes())
    assert stored.outcome == "follow_up" and stored.ticket_id == ticket_id
    assert "bounce" in stored.flags and stored.reading.auto_submitted
    ticket, reply = _ticket_and_reply(engine, ticket_id)
    assert reply.state == "bounced" and reply.bounced_at is not None
    assert "收件人邮箱地址不存在" in reply.last_error and "运营商" not in reply.last_error
    # Neither fields, status, engineer nor the people on the thread changed.
    for column in ("status", "engineer", "description", "missing", "thread_addresses", "complete"):
        assert getattr(ticket, column) == getattr(before, column), column
    assert ticket.updated_at == before.updated_at


def test_a_postfix_dsn_of_our_reply_keeps_the_diagnostic(engine):
    config = Config()
    ticket_id = _with_ticket(engine, config, ack_id="<gongdan.11.1710036000@example.cn>")
    stored = _store(engine, config, (EMAILS / "48_postfix_dsn.eml").read_bytes())
    assert stored.ticket_id == ticket_id and "bounce" in stored.flags
    _, reply = _ticket_and_reply(engine, ticket_id, "<gongdan.11.1710036000@example.cn>")
    assert reply.state == "bounced" and "User unknown" in reply.last_error


def _forged(sender: str, quoted_id: str, subject: str = "系统退信") -> bytes:
    """A bounce-looking mail written by `sender`, carrying a copy of the mail `quoted_id`."""
    inner = EmailMessage()
    inner["From"] = "support@desk.example.cn"
    inner["To"] = OPERATOR
    inner["Subject"] = ACK_SUBJECT
    inner["Message-ID"] = quoted_id
    inner.set_content("运营商：云能充\n停止原因：34\n")
    outer = EmailMessage()
    outer["From"] = sender
    outer["To"] = "support@desk.example.cn"
    outer["Subject"] = subject
    outer["Message-ID"] = "<forged.1@evil.example.cn>"
    outer["Return-Path"] = "<>"
    outer.set_content(f"收件人 {OPERATOR} 邮箱地址不存在，退信原因：550 User not found\n")
    outer.add_attachment(inner)
    return outer.as_bytes()


def test_a_forged_bounce_from_an_operator_marks_nothing_and_joins_nothing(engine):
    config = Config()
    victim = _with_ticket(engine, config)
    stored = _store(engine, config, _forged("mallory@evil.example.cn", ACK_ID))
    assert stored.ticket_id != victim and "bounce" not in stored.flags
    ticket, reply = _ticket_and_reply(engine, victim)
    assert reply.state == "sent" and reply.last_error is None
    assert "mallory@evil.example.cn" not in ticket.thread_addresses
    # Not even with the ticket's tag in the subject: only a mail system reports a bounce.
    tagged = _store(engine, config, _forged("x@evil.example.cn", "<n@x>", "系统退信 [工单#1]"))
    assert tagged.ticket_id != victim and _ticket_and_reply(engine, victim)[1].state == "sent"


def test_a_daemon_bounce_quoting_a_message_id_we_never_sent_is_plain_automatic_mail(engine):
    config = Config()
    victim = _with_ticket(engine, config)
    raw = (EMAILS / "48_postfix_dsn.eml").read_bytes()  # about <gongdan.11...>: not ours here
    stored = _store(engine, config, raw)
    assert stored.outcome == "new_ticket" and stored.ticket_id != victim
    assert "bounce" not in stored.flags and "auto_submitted" in stored.flags
    assert _ticket_and_reply(engine, victim)[1].state == "sent"


def _daemon_text_bounce(subject: str, recipient: str) -> bytes:
    """A postmaster's report without the returned Message-ID: only the subject's tag."""
    return (
        "Return-Path: <>\r\nFrom: postmaster@mx.ops.example.cn\r\n"
        "To: support@desk.example.cn\r\nSubject: Undeliverable: "
        f"{subject}\r\nMessage-ID: <ndr.{recipient}@mx.ops.example.cn>\r\n\r\n"
        f"Delivery has failed to these recipients: {recipient}\r\n"
    ).encode()


def test_a_daemon_bounce_without_the_message_id_matches_by_tag_and_recipient(engine):
    config = Config()
    ticket_id = _with_ticket(engine, config)
    stranger = _store(engine, config, _daemon_text_bounce(f"[工单#{ticket_id}]", "a@b.example"))
    assert "bounce" not in stranger.flags and stranger.ticket_id != ticket_id
    assert _ticket_and_reply(engine, ticket_id)[1].state == "sent"
    stored = _store(engine, config, _daemon_text_bounce(f"Re: x [工单#{ticket_id}]", OPERATOR))
    assert stored.ticket_id == ticket_id and "bounce" in stored.flags
    assert _ticket_and_reply(engine, ticket_id)[1].state == "bounced"


def test_status_and_the_digest_say_which_replies_bounced(engine):
    config = Config()
    ticket_id = _with_ticket(engine, config)
    _store(engine, config, (EMAILS / "h01_163_system_bounce_of_our_ack.eml").read_bytes())
    now = utcnow()
    with engine.connect() as conn:
        report = report_json(status(conn, config, db.HEAD_REVISION, now, 60))
    assert report["outbox"]["bounced_7d"] == 1
    assert any("1 reply bounced" in n for n in report["notices"])
    with engine.connect() as conn:
        later = status(conn, config, db.HEAD_REVISION, now + timedelta(days=8), 60)
    assert later["outbox"]["bounced_7d"] == 0 and later["notices"] == []
    with db.session(engine) as session:
        data = collect(session.connection(), now - timedelta(hours=1), now + timedelta(minutes=1))
    _, text, html = render(data)
    assert f"工单#{ticket_id}  确认  收件人：{OPERATOR}" in text
    assert "收件人邮箱地址不存在" in text and 'data-table="bounced"' in html
    with db.session(engine) as session:
        data = collect(session.connection(), now + timedelta(hours=1), now + timedelta(hours=2))
    assert "退信" not in render(data)[1]  # another period: not listed


# ---- end to end: Dovecot in, aiosmtpd out, SQLite and PostgreSQL ---------------------------------


def test_163_bounce_of_the_ack_we_sent_is_seen_everywhere(desk, tmp_path):
    desk.poll(make_mail(COMPLETE, sender=OPERATOR, message_id="<op.12@ops.example.cn>"))
    (ack,) = desk.replies()
    (ticket,) = desk.tickets()
    before = desk.show(ticket["id"])
    # The 163 report of that very ack, as 163 returns it (our reply attached).
    bounce = (EMAILS / "h01_163_system_bounce_of_our_ack.eml").read_bytes()
    desk.poll(bounce.replace(ACK_ID.encode(), ack["Message-ID"].encode()))

    assert len(desk.replies()) == 1  # the bounce got no answer
    assert [t["id"] for t in desk.tickets()] == [ticket["id"]]
    shown = desk.show(ticket["id"])
    for key in ("status", "engineer", "fields", "missing", "complete", "stop_codes", "events"):
        assert shown[key] == before[key], key
    bounced = [m for m in shown["messages"] if "bounce" in m["flags"]]
    assert [m["from"] for m in bounced] == ["postmaster@qiye.163.com"]
    (reply,) = shown["outbox"]
    assert reply["state"] == "bounced" and "收件人邮箱地址不存在" in reply["last_error"]
    assert [o["state"] for t in desk.exported() for o in t["outbox"]] == ["bounced"]
    assert "被退信" in desk.gongdan("tickets", "show", str(ticket["id"])).output
    listed = desk.gongdan("outbox", "list", "--bounced").output
    assert ack["Message-ID"] in listed and "被退信" in listed
    code, report = desk.status()
    assert code == 0 and report["outbox"]["bounced_7d"] == 1 and report["notices"]
    assert "注意：发件箱：近 7 天有 1 封回复被退信" in desk.gongdan("status").output
    out = tmp_path / "digest.html"
    assert desk.gongdan("digest", "--dry-run", "--out", str(out)).exit_code == 0
    assert f"#{ticket['id']}" in out.read_text("utf-8") and "退信" in out.read_text("utf-8")
