"""New text against quoted history and forwards."""

import pytest

from ingest.reading.quoting import is_forward, is_reply, split_body


@pytest.mark.parametrize(
    "marker",
    [
        "-----原始邮件-----",
        "------------------ 原始邮件 ------------------",
        "-----Original Message-----",
        '在 2024年3月1日(星期五) 上午10:12，"张三"<zhang@example.cn> 写道：',
        "On Fri, Mar 1, 2024 at 10:12 AM Zhang <zhang@example.cn> wrote:",
        (
            "发件人: 张三 <zhang@example.cn>\n发送时间: 2024年3月1日 10:12\n"
            "收件人: support@example.cn\n主题: 充电失败"
        ),
        (
            "From: Zhang <zhang@example.cn>\nSent: Friday, March 1, 2024 10:12 AM\n"
            "To: support@example.cn"
        ),
    ],
)
def test_history_starts_at_a_marker(marker):
    body = f"补充：订单号：123\n\n{marker}\n运营商：星星充电"
    split = split_body(body)
    assert split.new_text == "补充：订单号：123"
    assert "运营商：星星充电" in "\n".join(split.history)


def test_gt_lines_are_history_wherever_they_are():
    split = split_body("好的\n> 运营商：A\n> > 问题描述：B\n谢谢")
    assert split.new_text == "好的\n谢谢"
    assert split.history == ["运营商：A", "问题描述：B"]  # two quote depths: two messages


def test_from_in_text_is_not_a_header_block():
    assert (
        split_body("From: 用户反馈\n问题描述：无法充电").new_text
        == "From: 用户反馈\n问题描述：无法充电"
    )


def test_forwarded_part_ends_at_its_own_history():
    body = (
        "请处理\n---------- Forwarded message ---------\nFrom: A <a@example.cn>\nDate: 2024\n"
        "Subject: 故障\nTo: b@example.cn\n\n停止原因：34\n\n-----原始邮件-----\n停止原因：2"
    )
    split = split_body(body)
    assert "停止原因：34" in split.forwarded and "停止原因：2" not in split.forwarded


def test_subject_prefixes():
    assert is_forward("Fwd: x") and is_forward("转发：充电失败") and is_forward("FW: x")
    assert not is_forward("Re: Fwd: x")
    assert is_reply("回复：充电失败", "", []) and is_reply("答复: x", "", [])
    assert is_reply("充电失败", "<a@b>", []) and not is_reply("充电失败", "", [])


def test_history_is_cut_into_its_messages():
    body = (
        "好的\n---------- Forwarded message ---------\nFrom: A <a@example.cn>\nDate: 2024\n\n"
        "运营商初步排查结果：用户操作\n\nOn Tue, Mar 12, 2024 at 2:00 PM <ops@example.cn> wrote:\n"
        "> 上次的停止原因：11"
    )
    split = split_body(body)
    assert len(split.history) == 3
    assert split.history[0].endswith("运营商初步排查结果：用户操作")
    assert split.history[2] == "上次的停止原因：11"


@pytest.mark.parametrize(
    "signature", ["发自我的华为手机", "发自我的iPhone", "Sent from my iPhone", "来自我的QQ邮箱"]
)
def test_a_phone_clients_signature_ends_the_new_text(signature):
    split = split_body(f"运营商初步排查结果：已重启\n\n{signature}")
    assert split.new_text == "运营商初步排查结果：已重启"


def test_forwarded_part_found_below_a_signature():
    split = split_body(
        "请处理\n发自我的iPhone\n---------- Forwarded message ---------\nFrom: A <a@x.cn>\n"
        "Date: 2024\n\n停止原因：34"
    )
    assert split.new_text == "请处理" and "停止原因：34" in split.forwarded


@pytest.mark.parametrize(
    "marker",
    [
        "---------- 转发的邮件 ---------",
        "-------- 转发邮件信息 --------",
        "－－－－－ 原始郵件 －－－－－",
        "在 2026年11月23日 20:10，張三 寫道：",
        "發件人：張三 <zhang@example.tw>\n寄件日期：2026年11月23日\n收件者：support@example.cn",
        "发件人：张三 <zhang@example.cn>\n时间：2026年11月23日 20:10\n收件人：support@example.cn",
        "FROM: Zhang <zhang@example.cn>\nSENT: Monday\nTO: support@example.cn",
    ],
)
def test_traditional_full_width_and_forward_markers_start_history(marker):
    body = f"运营商：新的\n\n{marker}\n\n运营商：旧的"
    split = split_body(body)
    assert split.new_text.strip() == "运营商：新的"
    assert "运营商：旧的" in split.history[0]


@pytest.mark.parametrize("subject", ["转发：桩离线", "轉發：桩离线", "轉寄: x", "FWD：x", "fw: x"])
def test_forward_prefixes_with_any_colon_and_traditional_forms(subject):
    assert is_forward(subject)


@pytest.mark.parametrize("subject", ["回复：桩离线", "回覆：x", "答复：x", "答覆: x", "RE：x"])
def test_reply_prefixes_with_any_colon_and_traditional_forms(subject):
    assert is_reply(subject, "", [])
