"""Who gets which reply (SPEC §6), and where it goes."""

import pytest

from ingest.config import Config
from ingest.reading.email_reader import Email
from ingest.rules.decide import Situation, decide, reply_address


@pytest.mark.parametrize(
    "situation,kind",
    [
        (Situation("new_ticket", sender="a@y.cn", complete=True), "ack"),
        (Situation("new_ticket", sender="a@y.cn", complete=False), "request_info"),
        (
            Situation(
                "follow_up",
                sender="a@y.cn",
                complete=True,
                became_complete=True,
                changed_fields=True,
            ),
            "ack",
        ),
        (
            Situation("follow_up", sender="a@y.cn", complete=False, changed_fields=True),
            "request_info",
        ),
        (Situation("follow_up", sender="a@y.cn", complete=False, changed_fields=False), None),
        (
            Situation("follow_up", sender="a@y.cn", complete=True, changed_fields=True),
            None,
        ),  # nothing new to say
        (Situation("new_ticket", sender="", complete=True), None),  # nobody to answer
        (Situation("new_ticket", auto_submitted=True), None),
        (Situation("new_ticket", from_engineer=True), None),
        (Situation("new_ticket", forged_engineer=True), None),
        (Situation("duplicate"), None),
        (Situation("unreadable"), None),
        (Situation("new_ticket", sender="a@x.cn", operator_domains=("y.cn",)), None),
        (Situation("new_ticket", sender="a@y.cn", operator_domains=("Y.cn",)), "request_info"),
        (Situation("new_ticket", sender="a@y.cn", replies_today=10, daily_limit=10), None),
    ],
)
def test_decide(situation, kind):
    assert decide(situation).kind == kind


def test_limits_and_domains_leave_a_flag():
    assert (
        decide(Situation("new_ticket", sender="a@y.cn", replies_today=3, daily_limit=3)).flag
        == "over_daily_limit"
    )
    assert (
        decide(Situation("new_ticket", sender="a@x.cn", operator_domains=("y.cn",))).flag
        == "outside_operator_domains"
    )


def test_reply_goes_only_to_from_or_an_acceptable_reply_to():
    config = Config()
    config.desk.own_addresses = ["support@gongdan.example.cn"]
    mail = Email(from_address="ops@xingxing.cn", reply_to=["boss@xingxing.cn"])
    assert reply_address(mail, config) == "boss@xingxing.cn"
    config.desk.operator_domains = ["xingxing.cn"]
    assert (
        reply_address(
            Email(from_address="ops@xingxing.cn", reply_to=["victim@elsewhere.com"]), config
        )
        == "ops@xingxing.cn"
    )
    assert (
        reply_address(
            Email(from_address="ops@xingxing.cn", reply_to=["support@gongdan.example.cn"]), config
        )
        == "ops@xingxing.cn"
    )
