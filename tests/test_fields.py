"""Fields of the wiki templates found in operators' text (SPEC §3)."""

import pytest

from ingest.reading.fields import choose_status, extract_fields
from tests.seed import section


def test_seed_example_reads_into_its_fields(seed_text):
    example = section(seed_text, "## 工单示例", "== 盛弘")
    fields = extract_fields(example)
    assert fields == {
        "operator": "展鹏达",
        "station": "平湖中泰站",
        "phone": "135xxxxxx",
        "order_no": "20190830211644614873",
        "pile_no": "35010400080000200015",
        "network_status": "桩联网平台显示对应桩的状态为未非离线状态.",
        "recent_faults": (
            "桩联网平台显示对应桩在16:xx发生离线(bms通讯异常、急停等),"
            "且在17:xx恢复急停按钮,桩恢复正常"  # a line value loses its trailing 。 (SPEC §3a)
        ),
        "description": "用户表示相近时间内产生多笔订单,要求核实,同意把号码1307xxxx382告知运营商。",
        "operator_findings": fields["operator_findings"],
        "analysis": "【令狐充】:20190903003914908751 这个没有..........",
        "resolution": "建议运营商在异常账单中手工修复,步骤:1)搜索长账单号。2)手工修复。",
        "status": "resolved",
        "engineer": "小明",
    }
    assert fields["operator_findings"].startswith("运营商调取监控,初步判断第一笔账单")
    assert fields["operator_findings"].endswith("(因为该充电时间旁边200044号桩无充电记录)。")


def test_blank_templates_give_no_values_but_the_preset_status(seed_text):
    simple = section(seed_text, "## 简易工单", "## 详细工单")
    detailed = section(seed_text, "## 详细工单", "## 工单示例")
    assert extract_fields(simple) == {}
    # The blank detailed template comes with 处理中 already ticked.
    assert extract_fields(detailed) == {"status": "in_progress"}


@pytest.mark.parametrize(
    "label",
    [
        "订单号(必填)",
        "订单号（必填）",
        "订单号",
        "订单编号",
        "账单号",
        "订单号 (必填)",
        "订单号（必填 ）",
    ],
)
@pytest.mark.parametrize("colon", [":", "：", " : ", "：  ", "\u3000："])
def test_label_variants_give_the_same_field(label, colon):
    assert extract_fields(f"{label}{colon}20190830211644614873") == {
        "order_no": "20190830211644614873"
    }


def test_two_labels_on_one_line():
    fields = extract_fields("是否异常账单(根据账单号搜索): 否 异常状态: 无")
    assert fields == {"abnormal_bill": "否", "abnormal_status": "无"}


def test_longest_label_wins_where_labels_share_a_prefix():
    text = (
        "运营商初步排查结果：已重启\n现场网络连接状态：在线\n"
        "充电桩号：35010400080000200015\n手机号码：13512348382"
    )
    assert extract_fields(text) == {
        "phone": "13512348382",
        "pile_no": "35010400080000200015",
        "network_status": "在线",
        "operator_findings": "已重启",
    }


def test_block_runs_over_lines_until_a_label_separator_or_heading():
    text = (
        "问题描述：用户扫码后无法启动，\n订单号：这一行里的标签不算\n第二行\n"
        "运营商初步排查结果：重启后正常\n"
        "——————\n这一行不属于任何字段\n"
        "---跟踪\n已联系用户\n----分析：模块故障\n---解决\n更换模块\n状态: √ 已解决"
    )
    fields = extract_fields(text)
    assert fields["description"] == "用户扫码后无法启动，"
    assert fields["order_no"] == "这一行里的标签不算"
    assert fields["operator_findings"] == "重启后正常"
    assert fields["tracking"] == "已联系用户"
    assert fields["analysis"] == "模块故障"
    assert fields["resolution"] == "更换模块"
    assert fields["status"] == "resolved"


def test_block_keeps_mid_line_labels_as_text():
    fields = extract_fields("问题描述：用户说订单号：123 扣费两次\n还说停止原因：34")
    assert fields == {"description": "用户说订单号：123 扣费两次\n还说停止原因：34"}


def test_placeholder_is_removed_in_any_width_and_empty_values_are_absent():
    text = (
        "现场网络连接状态：（此为示例，请按实际填写）\n"
        "近期故障状态: 无(此为示例, 请按实际填写)\n运营商："
    )
    assert extract_fields(text) == {"recent_faults": "无"}


@pytest.mark.parametrize("mark", ["☑", "✓", "✔", "√", "☒", "■", "[x]", "[X]"])
@pytest.mark.parametrize(
    "option,value", [("已解决", "resolved"), ("处理中", "in_progress"), ("暂搁置", "on_hold")]
)
def test_status_is_the_marked_option(mark, option, value):
    line = " | ".join(f"{mark} {o}" if o == option else o for o in ("已解决", "处理中", "暂搁置"))
    assert extract_fields(f"状态(☑表示选定 ): {line}") == {"status": value}
    assert choose_status(line.replace(f"{mark} ", mark)) == value


@pytest.mark.parametrize(
    "line", ["已解决 | 处理中 | 暂搁置", "☑ 已解决 | ☑ 处理中 | 暂搁置", "处理中"]
)
def test_no_mark_or_two_marks_give_no_status(line):
    assert extract_fields(f"状态(√表示选定 ): {line}") == {}


def test_mark_after_its_option():
    assert choose_status("已解决 | 处理中 ✔ | 暂搁置") == "in_progress"


def test_engineer_label_with_note_in_the_middle():
    for label in ("售后(跟单)工程师", "售后（跟单）工程师", "售后工程师", "跟单工程师"):
        assert extract_fields(f"{label}： 小明") == {"engineer": "小明"}


def test_first_non_empty_value_wins_and_none_is_a_value():
    assert extract_fields("运营商：\n运营商：星星充电\n运营商：别的\n异常状态：无") == {
        "operator": "星星充电",
        "abnormal_status": "无",
    }


def test_numbered_lines_are_labels_at_line_start():
    text = "问题描述：充不上电\n2. 运营商初步排查结果：已排查"
    assert extract_fields(text) == {"description": "充不上电", "operator_findings": "已排查"}


# SPEC §3a: how operators really write.


@pytest.mark.parametrize(
    "mark", ["1.", "1、", "(1)", "（1）", "①", "⑳", "•", "·", "●", "▪", "-", "*"]
)
def test_a_list_number_or_bullet_before_a_label_starts_a_new_field(mark):
    text = (
        f"问题描述：充不上电\n{mark} 运营商：星桥充电\n{mark}订单号（20位）：20261123194510123456"
    )
    assert extract_fields(text) == {
        "operator": "星桥充电",
        "order_no": "20261123194510123456",
        "description": "充不上电",
    }


@pytest.mark.parametrize(
    "text,key",
    [
        ("運營商：台電充電", "operator"),
        ("樁站名稱：台電充電", "station"),
        ("訂單號(必填)：台電充電", "order_no"),
        ("問題描述：台電充電", "description"),
        ("售後(跟單)工程師：台電充電", "engineer"),
        ("聯絡電話：台電充電", "phone"),  # s2twp's form of 联系电话
        ("現場網路連線狀態：台電充電", "network_status"),  # s2twp
        ("用户手機號：台電充電", "phone"),  # s2hk keeps 户
    ],
)
def test_traditional_labels_from_opencc_keep_their_values_as_written(text, key):
    assert extract_fields(text) == {key: "台電充電"}


def test_traditional_headings_status_and_placeholder():
    text = (
        "運營商：台電充電(此為示例,請按實際填寫)\n狀態(☑表示選定 )：已解決 | ☑處理中 | 暫擱置\n"
        "---跟蹤\n已到場\n----分析\n模組故障\n---解決\n更換模組"
    )
    assert extract_fields(text) == {
        "operator": "台電充電",
        "tracking": "已到場",
        "analysis": "模組故障",
        "resolution": "更換模組",
        "status": "in_progress",
    }


def test_a_line_label_with_nothing_after_it_takes_the_next_non_empty_line():
    text = "运营商：\n\n星桥充电\n桩站名称:\n平湖中泰站；\n手机号：\n订单号：\n20261123194510123456"
    assert extract_fields(text) == {
        "operator": "星桥充电",
        "station": "平湖中泰站",
        "order_no": "20261123194510123456",
    }


@pytest.mark.parametrize(
    "after", ["桩站名称：平湖站", "---跟踪", "──────", "> 旧的内容", "谢谢！", "发自我的iPhone"]
)
def test_the_next_line_is_no_value_when_it_is_a_label_heading_separator_or_marker(after):
    assert "operator" not in extract_fields(f"运营商：\n{after}\n星桥充电")


@pytest.mark.parametrize(
    "signature",
    ["-- ", "谢谢", "谢谢！", "Thanks,", "best regards", "Regards.", "此致", "敬礼！", "顺祝商祺",
     "祝好", "謝謝", "发自我的iPhone", "发自我的华为手机", "来自网易邮箱大师", "Sent from my iPad"],
)  # fmt: skip
def test_a_signature_ends_a_block_and_labels_after_it_are_still_read(signature):
    text = f"运营商初步排查结果：已重启。\n\n{signature}\n张三\n星桥运维部\n手机号：13512348382"
    assert extract_fields(text) == {"phone": "13512348382", "operator_findings": "已重启。"}


def test_a_sign_off_inside_a_sentence_is_text():
    text = "问题描述：用户说谢谢你们\n谢谢你们的帮助让我很感动"
    assert extract_fields(text)["description"] == "用户说谢谢你们\n谢谢你们的帮助让我很感动"


@pytest.mark.parametrize("ch", list("-~—=_－─━＝*·"))
def test_separators_of_any_of_the_wider_set_end_blocks_and_stay_out_of_values(ch):
    text = f"问题描述：离线\n{ch * 6}\n不属于任何字段\n运营商初步排查结果：查了\n{ch * 12}"
    assert extract_fields(text) == {"description": "离线", "operator_findings": "查了"}


def test_line_values_lose_trailing_punctuation_block_values_keep_it():
    text = (
        "运营商：佳程充电；桩站名称：福州站；\n异常状态：无。\n近期故障：离线、\n"
        "问题描述：扣费两次；"
    )
    assert extract_fields(text) == {
        "operator": "佳程充电",
        "station": "福州站",
        "recent_faults": "离线",
        "abnormal_status": "无",
        "description": "扣费两次；",
    }


def test_a_list_number_before_the_next_label_on_a_line_is_not_part_of_the_value():
    assert extract_fields("1、运营商：佳程 2、桩站名称：福州站") == {
        "operator": "佳程",
        "station": "福州站",
    }


def test_numbers_are_stored_with_ascii_digits_and_without_a_remark():
    text = (
        "手机号：１３５ １２３４ ８３８２（张工）\n"
        "订单号：２０２６１１２３１９４５１０１２３４５６（已补充）\n"
        "充电桩号：35010400080000200015 已更正。\n"
        "运营商：星桥１号站"
    )
    assert extract_fields(text) == {
        "operator": "星桥１号站",  # other text is kept as written
        "phone": "135 1234 8382",
        "order_no": "20261123194510123456",
        "pile_no": "35010400080000200015",
    }


@pytest.mark.parametrize("value", ["20261123194510123456、20261123194510123457", "无", "见附件"])
def test_two_numbers_or_words_are_kept_as_written(value):
    assert extract_fields(f"订单号：{value}") == {"order_no": value}


def test_a_number_with_dashes_keeps_them_and_loses_its_remark():
    assert extract_fields("订单号：2026-1123-1945（已补充）") == {"order_no": "2026-1123-1945"}
    assert extract_fields("手机号：0571-88886666（总机）") == {"phone": "0571-88886666"}
