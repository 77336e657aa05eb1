"""deploy/ is what a real installation runs (SPEC §9a): the systemd units pass `systemd-analyze
verify`, and the Postfix + Dovecot recipe runs end to end on loopback: Postfix → Dovecot →
`gongdan poll --loop` → Postfix → the operator's Dovecot mailbox."""

from __future__ import annotations

import email
import shutil
import smtplib
import ssl
import subprocess
import time
from email import policy
from pathlib import Path

import pytest

from tests.conftest import make_mail
from tests.conftest_servers import _require
from tests.desk import ENGINEER, ENGINEER_TOML, FROM, Desk
from tests.servers import DEPLOY, Postfix, RecipeDovecot, short_tmpdir

UNITS = ("gongdan-poll.service", "gongdan-digest.service", "gongdan-digest.timer")
GONGDAN = "/srv/gongdan/venv/bin/gongdan"
TRUSTED = "mx.gongdan.example.cn"  # the authserv-id deploy/postfix writes
OPERATOR = "ops@xingxing.example.cn"
COMPLETE = (
    "运营商：星星充电\n桩站名称：万达广场站\n问题描述：3号桩充不上电\n"
    "订单号：20261124081644614873\n运营商初步排查结果：已重启，停止原因：34\n"
)
ON_HOLD = "等配件。\n状态(☑表示选定 ): 已解决 | 处理中 | ☑ 暂搁置\n售后(跟单)工程师: 小明\n"
RESOLVED = (
    "已处理。\n状态(☑表示选定 ): ☑ 已解决 | 处理中 | 暂搁置\n售后(跟单)工程师: 小明\n"
    "---解决\n更换通讯模块。\n"
)


# --- systemd units ----------------------------------------------------------------------------


def test_units_pass_systemd_analyze_verify(tmp_path):
    """The units as shipped, with ExecStart pointed at an executable that exists here (verify
    refuses a missing one); any warning (an unknown key, a bad value) fails the test."""
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    stub = tmp_path / "gongdan"
    stub.write_text("#!/bin/sh\n")
    stub.chmod(0o755)
    for unit in UNITS:
        text = (DEPLOY / unit).read_text()
        assert unit == "gongdan-digest.timer" or GONGDAN in text
        (tmp_path / unit).write_text(text.replace(GONGDAN, str(stub)))
    res = subprocess.run(
        [verify, "verify", *UNITS], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert (res.returncode, res.stdout + res.stderr) == (0, "")
    poll = (DEPLOY / "gongdan-poll.service").read_text()
    assert f"ExecStart={GONGDAN} poll --loop" in poll and "Restart=always" in poll
    assert f"ExecStart={GONGDAN} digest" in (DEPLOY / "gongdan-digest.service").read_text()
    assert "OnCalendar=" in (DEPLOY / "gongdan-digest.timer").read_text()


def test_a_broken_unit_does_not_pass(tmp_path):
    """Control: verify does catch a mistake."""
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    unit = tmp_path / "gongdan-poll.service"
    unit.write_text((DEPLOY / unit.name).read_text().replace("Restart=always", "Restart=often"))
    res = subprocess.run([verify, "verify", unit.name], cwd=tmp_path, capture_output=True)
    assert res.returncode != 0 or res.stderr


# --- Postfix + Dovecot + gongdan on loopback --------------------------------------------------


@pytest.fixture
def mail_servers():
    """Dovecot with deploy/dovecot, Postfix with deploy/postfix; the support mailbox, the
    engineer and the operator (whose domain this Postfix also holds, to see our replies)."""
    _require(RecipeDovecot)
    _require(Postfix)
    dovecot = RecipeDovecot(short_tmpdir("gd-dc-"))
    for user in ("support", "xiaoming", "ops"):
        dovecot.add_user(user, "pw-" + user)
    postfix = Postfix(
        short_tmpdir("gd-pf-"),
        dovecot,
        domains=["gongdan.example.cn", "xingxing.example.cn"],
        mailboxes=[FROM, ENGINEER, OPERATOR],
    )
    try:
        dovecot.start()
        postfix.start()
        yield dovecot, postfix
    finally:
        postfix.cleanup()
        dovecot.cleanup()


def desk_on(tmp_path: Path, dovecot, postfix) -> Desk:
    """gongdan reading the support mailbox over IMAP and sending through the submission
    service as support@ (STARTTLS, the test certificate as its CA)."""
    secret = tmp_path / "smtp-password"
    secret.write_text("pw-support")
    secret.chmod(0o600)
    outgoing = (
        f'kind = "smtp"\nhost = "127.0.0.1"\nport = {postfix.submission_port}\n'
        f'security = "starttls"\nca_file = "{postfix.cert}"\nusername = "{FROM}"\n'
        f'password_file = "{secret}"\n'
    )
    return Desk(
        tmp_path / "desk",
        f"sqlite:///{tmp_path}/gongdan.db",
        imap=(dovecot, ("support", "pw-support"), "INBOX"),
        outgoing=outgoing,
        extra=f'[desk]\ntrusted_authserv_id = "{TRUSTED}"\n\n{ENGINEER_TOML}',
    )


def at_mx(postfix, sender: str, raw: bytes) -> None:
    """Mail from the world, on the MX's port."""
    with smtplib.SMTP(postfix.host, postfix.mx_port, timeout=10) as smtp:
        smtp.sendmail(sender, [FROM], raw)


def submitted(postfix, login: str, password: str, raw: bytes) -> None:
    """Mail an engineer sends through the submission service, logged in over STARTTLS."""
    with smtplib.SMTP(postfix.host, postfix.submission_port, timeout=10) as smtp:
        smtp.starttls(context=ssl.create_default_context(cafile=str(postfix.cert)))
        smtp.login(login, password)
        smtp.sendmail(login, [FROM], raw)


def inbox(dovecot, user: str) -> list[email.message.EmailMessage]:
    client = dovecot.client(user)
    try:
        client.select_folder("INBOX", readonly=True)
        fetched = client.fetch(client.search(), ["BODY.PEEK[]"])
        return [
            email.message_from_bytes(fetched[uid][b"BODY[]"], policy=policy.default)
            for uid in sorted(fetched)
        ]
    finally:
        client.logout()


def wait_until(what, waiting_for: str, timeout: float = 15):
    deadline = time.monotonic() + timeout
    while not (found := what()):
        assert time.monotonic() < deadline, f"no {waiting_for} within {timeout} s"
        time.sleep(0.1)
    return found


@pytest.mark.servers
def test_recipe_end_to_end(tmp_path, mail_servers):
    dovecot, postfix = mail_servers
    desk = desk_on(tmp_path, dovecot, postfix)
    worker = desk.process("poll", "--loop", "--interval", "1")
    try:
        # An operator's mail arrives at the MX; the ack reaches the operator's mailbox, threaded.
        at_mx(
            postfix,
            OPERATOR,
            make_mail(COMPLETE, subject="扫码无法启动", message_id="<op1@xingxing.example.cn>"),
        )
        (ack,) = wait_until(lambda: inbox(dovecot, "ops"), "ack in the operator's mailbox")
        assert ack["In-Reply-To"] == "<op1@xingxing.example.cn>"
        assert "[工单#1]" in ack["Subject"] and ack["From"].addresses[0].addr_spec == FROM

        def engineer_mail(body: str, n: int) -> bytes:
            return make_mail(
                body,
                subject=f"Re: {ack['Subject']}",
                sender=ENGINEER,
                message_id=f"<eng{n}@gongdan.example.cn>",
                in_reply_to="<op1@xingxing.example.cn>",
            )

        # The engineer's status mail forged from outside, with the header our submission
        # service writes, plainly and with an escape byte inside our name (which a literal
        # match would miss and the mail reader removes): the MX strips both; nothing changes.
        for n, authserv_id in ((1, TRUSTED), (3, TRUSTED.replace("gong", "gong\x1b(B"))):
            forged = f"Authentication-Results: {authserv_id}; auth=pass smtp.auth={ENGINEER}\r\n"
            at_mx(postfix, "x@evil.example.com", forged.encode() + engineer_mail(ON_HOLD, n))

        forged_ids = {"<eng1@gongdan.example.cn>", "<eng3@gongdan.example.cn>"}
        wait_until(lambda: forged_ids <= set(desk.flags()), "forged mails stored")
        for n in (1, 3):
            assert "forged_engineer" in desk.flags_of(f"<eng{n}@gongdan.example.cn>")
        ticket = desk.show(1)
        assert (ticket["status"], ticket["engineer"]) == ("in_progress", None)

        # The same engineer through submission, logged in: verified, and the ticket changes.
        submitted(postfix, ENGINEER, "pw-xiaoming", engineer_mail(RESOLVED, 2))
        notice = wait_until(lambda: inbox(dovecot, "ops")[1:], "resolved notice to the operator")[0]
        assert "已解决" in notice.get_content() and "[工单#1]" in notice["Subject"]
        assert notice["In-Reply-To"] == "<op1@xingxing.example.cn>"
        ticket = desk.show(1)
        assert (ticket["status"], ticket["engineer"]) == ("resolved", "小明")
        assert desk.flags_of("<eng2@gongdan.example.cn>") == []
        assert [o["kind"] for o in ticket["outbox"]] == ["ack", "resolved_notice"]
        assert worker.poll() is None, desk.said()
    finally:
        worker.terminate()
        worker.wait(30)
