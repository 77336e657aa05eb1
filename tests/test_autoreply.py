"""Automatic mail is never answered (SPEC §6, §6a): ingest/reading/autoreply.py through
read_ticket, as `gongdan parse` and the poll cycle see it."""

from __future__ import annotations

import base64

import pytest

from ingest.reading.ticket import read_ticket
from ingest.rules.decide import message_action


def reading(subject: str, *headers: str, body: str = "运营商：云能充\n") -> object:
    word = f"=?utf-8?B?{base64.b64encode(subject.encode()).decode()}?="
    head = ["From: wang@ops.example.cn", f"Subject: {word}", *headers]
    head.append("Content-Type: text/plain; charset=utf-8")
    return read_ticket(("\n".join(head) + "\n\n" + body).encode("utf-8"))


@pytest.mark.parametrize(
    "subject",
    [
        "自动答复: 充电桩故障 [工单#12]",  # Chinese Outlook, no automatic headers
        "自动回复：您好",
        "自动回复",
        "【自动回复】您的来信已收到",
        "[自动回复] 您的来信已收到",
        "Re: 自动回复：充电桩故障",
        "回复：自动答复: 充电桩故障",
        "答复: Out of Office: 充电桩故障",
        "RE: Automatic reply: 充电桩故障",
        "AUTO REPLY: 充电桩故障",
        "自動回覆: 充電樁故障",
        "已读: 充电桩故障 [工单#12]",
        "已讀：充電樁故障",
        "Read: 充电桩故障",
        "系统退信",
        "Undeliverable: 充电桩故障",
    ],
)
def test_automatic_subjects_are_not_answered(subject):
    got = reading(subject)
    assert got.auto_submitted and message_action(got) == "none"
    assert got.fields == {"operator": "云能充"}  # read like any mail's, only never answered


@pytest.mark.parametrize(
    "subject",
    [
        "自动回复功能怎么关闭？",  # a person asking about auto-replies
        "自动回复设置",
        "退信问题怎么处理",
        "Readme 文件打不开",
        "Re: 充电桩故障 [工单#12]",
        "Out of officers' hours",
    ],
)
def test_people_writing_about_such_things_are_answered(subject):
    got = reading(subject)
    assert not got.auto_submitted and message_action(got) == "request_info"


@pytest.mark.parametrize(
    "headers,automatic",
    [
        (["Auto-Submitted: no", "Auto-Submitted: auto-replied"], True),  # any of repeated ones
        (["Auto-Submitted: no"], False),
        (["X-Auto-Response-Suppress: DR, RN, NRN, AutoReply"], True),
        (["X-Auto-Response-Suppress: OOF"], True),
        (["X-Auto-Response-Suppress: DR, RN"], False),
        (["Return-Path: < >"], True),
        (["Return-Path: <>"], True),
        (["Return-Path: <wang@ops.example.cn>"], False),
    ],
)
def test_automatic_headers(headers, automatic):
    got = reading("充电桩故障", *headers)
    assert got.auto_submitted is automatic
    assert message_action(got) == ("none" if automatic else "request_info")
