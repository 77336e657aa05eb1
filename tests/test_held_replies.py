"""The daily limit (SPEC §6b): a reply it withholds is kept in the outbox as `held`, said by
`status`, `outbox list --held` and the digest, and goes out once a person releases it."""

from __future__ import annotations

import json

import pytest

from tests.conftest import make_mail
from tests.desk import Desk

NOW = "2026-12-01T09:00:00+08:00"
INCOMPLETE = "运营商：星星充电\n问题描述：3号桩充不上电\n"
OPERATOR = "ops@xingxing.example.cn"


@pytest.fixture
def desk(tmp_path):
    desk = Desk(
        tmp_path / "desk",
        f"sqlite:///{tmp_path / 'gongdan.db'}",
        extra='[desk]\ndaily_reply_limit = 3\n\n[digest]\nrecipients = ["lead@gongdan.example.cn"]',
    )
    for n in range(5):
        desk.deliver(
            make_mail(INCOMPLETE, subject=f"故障{n}", message_id=f"<h{n}@xingxing.example.cn>")
        )
    result = desk.gongdan("poll", "--now", NOW)
    assert result.exit_code == 0, result.output
    return desk


def held_ids(desk: Desk) -> list[str]:
    return [r.message_id for r in desk.rows() if r.state == "held"]


def test_replies_past_the_limit_are_held_not_forgotten(desk):
    assert len(desk.replies_to(OPERATOR)) == 3
    rows = desk.rows()
    assert [r.state for r in rows] == ["sent"] * 3 + ["held"] * 2
    held = [r for r in rows if r.state == "held"]
    assert all(r.kind == "request_info" and r.to_addresses == [OPERATOR] for r in held)
    assert all("daily reply limit of 3" in r.last_error for r in held)
    # Every ticket is stored; the two without a reply say why.
    assert len(desk.tickets()) == 5
    assert sum("over_daily_limit" in f for f in desk.flags().values()) == 2

    # `status`: a notice, and the desk still healthy (exit 0; the poll ran at --now, days ago).
    result = desk.gongdan("status", "--interval", "1000000000")
    notice = "发件箱：2 封回复因每日回复限额暂缓（gongdan outbox list --held"
    assert result.exit_code == 0 and notice in result.output
    report = json.loads(desk.gongdan("status", "--json", "--interval", "1000000000").stdout)
    assert report["healthy"] and report["outbox"]["held"] == 2
    assert any("held back" in n for n in report["notices"])

    # `outbox list --held`: the two, with why.
    listed = desk.gongdan("outbox", "list", "--held").output.splitlines()
    assert len(listed) == 2 and all("暂缓，待放行" in line and OPERATOR in line for line in listed)
    assert [line.split()[0] for line in listed] == held_ids(desk)
    assert "暂缓原因：已达每日回复上限 3 封" in listed[0]

    # The digest: section 因限额未回复.
    out = desk.root / "digest.html"
    result = desk.gongdan("digest", "--dry-run", "--out", str(out), "--now", NOW)
    assert result.exit_code == 0, result.output
    html = out.read_text("utf-8")
    assert "因限额未回复（2 封" in html and OPERATOR in html
    assert 'data-table="held"' in html and "请求补充" in html


def test_release_all_sends_them_on_the_next_send(desk):
    result = desk.gongdan("outbox", "release", "--all")
    assert result.exit_code == 0 and "2 held reply(ies) released" in result.output
    assert held_ids(desk) == []
    assert desk.gongdan("send").exit_code == 0
    replies = desk.replies_to(OPERATOR)
    assert len(replies) == 5
    assert sorted(r["In-Reply-To"] for r in replies) == [
        f"<h{n}@xingxing.example.cn>" for n in range(5)
    ]
    assert [r.state for r in desk.rows()] == ["sent"] * 5
    assert "held back" not in desk.gongdan("status").output
    assert "因每日回复限额暂缓" not in desk.gongdan("status").output
    assert desk.gongdan("outbox", "list", "--held").output.strip() == "没有待发送的回复"


def test_release_of_one_sends_only_that_one(desk):
    first, second = held_ids(desk)
    result = desk.gongdan("outbox", "release", first)
    assert result.exit_code == 0 and "1 held reply(ies) released" in result.output
    desk.gongdan("send")
    assert len(desk.replies_to(OPERATOR)) == 4
    assert held_ids(desk) == [second]


def test_release_of_a_reply_that_is_not_held_does_nothing_and_says_so(desk):
    sent = next(r for r in desk.rows() if r.state == "sent")
    before = [(r.message_id, r.state, r.attempts) for r in desk.rows()]
    for ids in ([sent.message_id], ["<nobody@evil.example>"]):
        result = desk.gongdan("outbox", "release", *ids)
        assert result.exit_code == 1
        assert "0 held reply(ies) released" in result.output
        assert f"not a held reply, left as it is: {ids[0]}" in result.output
    assert [(r.message_id, r.state, r.attempts) for r in desk.rows()] == before
    desk.gongdan("send")
    assert len(desk.replies_to(OPERATOR)) == 3  # nothing went out twice, nothing held went out
    # Neither ids nor --all: a usage error, nothing released.
    assert desk.gongdan("outbox", "release").exit_code == 2
    assert len(held_ids(desk)) == 2


def test_the_limit_does_not_count_held_replies(desk):
    """A day later the mailbox gets replies again: held ones did not use up its allowance."""
    desk.deliver(make_mail(INCOMPLETE, subject="次日", message_id="<next@xingxing.example.cn>"))
    assert desk.gongdan("poll", "--now", "2026-12-02T10:00:00+08:00").exit_code == 0
    assert len(desk.replies_to(OPERATOR)) == 4 and len(held_ids(desk)) == 2
