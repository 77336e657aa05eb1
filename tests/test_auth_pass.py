"""An engineer who sent through our own submission service is verified by `auth=pass` with
`smtp.auth` equal to the From address (SPEC §8, RFC 8601 §2.7.4), through the real poll cycle.

Every forgery is paired with the engineer's genuine mail doing the same thing and succeeding."""

from __future__ import annotations

import pytest

from tests.conftest import make_mail
from tests.desk import ENGINEER, ENGINEER_TOML, Desk

TRUSTED = "mx.gongdan.example.cn"
OPERATOR = "ops@xingxing.example.cn"
COMPLETE = (
    "运营商：星星充电\n桩站名称：万达广场站\n问题描述：3号桩充不上电\n"
    "订单号：20261124081644614873\n运营商初步排查结果：已重启，停止原因：34\n"
)
RESOLVING = (
    "已处理。\n状态(☑表示选定 ): ☑ 已解决 | 处理中 | 暂搁置\n售后(跟单)工程师: 小明\n"
    "---解决\n更换通讯模块。\n"
)
SUBMITTED = f"{TRUSTED}; auth=pass smtp.auth={ENGINEER}"


@pytest.fixture
def desk(tmp_path, database_url) -> Desk:
    return Desk(
        tmp_path / "desk",
        database_url,
        extra=f'[desk]\nparallel = false\ntrusted_authserv_id = "{TRUSTED}"\n\n{ENGINEER_TOML}',
    )


def engineer_mail(desk: Desk, *auth_results: str) -> None:
    """The operator opens a ticket, then the engineer's resolving reply arrives with
    `auth_results` on top (the first is the topmost)."""
    desk.poll(make_mail(COMPLETE, subject="扫码无法启动", message_id="<op1@xingxing.example.cn>"))
    (ack,) = desk.replies_to(OPERATOR)
    raw = make_mail(
        RESOLVING,
        subject=ack["Subject"],
        sender=ENGINEER,
        message_id="<eng1@gongdan.example.cn>",
        in_reply_to=ack["Message-ID"],
    )
    headers = b"".join(f"Authentication-Results: {h}\r\n".encode() for h in auth_results)
    desk.poll(headers + raw)


@pytest.mark.parametrize(
    "header",
    [SUBMITTED, f"{TRUSTED}; auth=pass (PLAIN) smtp.auth=XiaoMing@Gongdan.Example.cn"],
    ids=["login-is-from", "login-in-other-case"],
)
def test_engineer_through_our_submission_service_is_verified(desk, header):
    engineer_mail(desk, header)
    ticket = desk.show(1)
    assert (ticket["status"], ticket["engineer"]) == ("resolved", "小明")
    assert desk.flags_of("<eng1@gongdan.example.cn>") == []
    assert [o["kind"] for o in ticket["outbox"]] == ["ack", "resolved_notice"]


@pytest.mark.parametrize(
    "headers",
    [
        (f"{TRUSTED}; auth=pass smtp.auth=intern@gongdan.example.cn",),  # another login
        (f"{TRUSTED}; auth=pass smtp.auth=xiaoming",),  # a login that is not the From address
        (f"{TRUSTED}; auth=fail smtp.auth={ENGINEER}",),
        (f"mx.evil.example.com; auth=pass smtp.auth={ENGINEER}",),  # someone else's server
        (f"{TRUSTED}; auth=pass smtp.mailfrom={ENGINEER}",),  # no smtp.auth at all
        # Ours on top passes, but the sender planted one with our id below it.
        (SUBMITTED, f"{TRUSTED}; auth=pass smtp.auth={ENGINEER}"),
        # The trusted header is not the topmost one.
        ("mx.relay.example.net; auth=none", SUBMITTED),
        # Our id spelled with bytes a text cleaner would drop: an MX that strips only headers
        # naming its id literally lets these through, so they must not read as ours.
        (f"mx.gong\x1b(Bdan.example.cn; auth=pass smtp.auth={ENGINEER}",),
        (f"mx.gong\x00dan.example.cn; auth=pass smtp.auth={ENGINEER}",),
    ],
    ids=[
        "other-login",
        "bare-login",
        "auth-fail",
        "untrusted-server",
        "no-smtp-auth",
        "planted-below",
        "not-topmost",
        "escape-in-id",
        "nul-in-id",
    ],
)
def test_forged_submission_header_changes_nothing(desk, headers):
    engineer_mail(desk, *headers)
    ticket = desk.show(1)
    assert (ticket["status"], ticket["engineer"], ticket["fields"].get("resolution")) == (
        "in_progress",
        None,
        None,
    )
    assert [e["kind"] for e in ticket["events"] if e["by"] == ENGINEER] == []
    assert "forged_engineer" in desk.flags_of("<eng1@gongdan.example.cn>")
    assert [o["kind"] for o in ticket["outbox"]] == ["ack"]
