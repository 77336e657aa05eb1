"""Write the demo Maildir: two weeks of operator emails as their clients send them.

Run once to regenerate demo/inbox/new (delete the old files first); the files are committed so
the demo needs no script. File names sort in arrival order, so a follow-up comes after what it
follows. The output is the same on every run (fixed dates, Message-IDs and MIME boundaries);
`gongdan demo` moves the dates so that the last mail is an hour old, and the ages are real.

The fortnight, 2026-11-16 to 2026-11-29 (China Standard Time), as the desk sees it:

- 6 operators writing from their usual clients (demo/mail_clients.py): Foxmail (GBK, base64),
  QQ Mail and 163 Mail (HTML only), Outlook (quoted-printable), an iPhone and a Huawei phone;
- complete detailed tickets (acknowledged), incomplete ones (answered with what is missing),
  follow-ups that complete an earlier ticket (threaded by In-Reply-To/References), two
  auto-replies (stored, never answered);
- two mails of the engineer 小明 (the demo config's engineer): one resolves a ticket, one puts
  another on hold, both assigning 小明 with a ---跟踪 note;
- a repeat fault: three tickets on one pile of 嘉兴南湖站 (stop code 47), and stop code 10 on
  three tickets, which the digest's 重复故障 lists;
- stop codes of several meanings: 34, 41, 10, 32, 29, 2, 9, 47, 4.

In the comments of `mails()`, #N is the ticket number the demo gives (a fresh database).

The conversation after the first replies, 2026-11-29 to 12-01 (`conversation()`, in
demo/conversation/new): `gongdan demo` delivers and polls each of these mails at its own time,
after the fortnight's poll: 小明 takes #7; 融城能源 asks how #7 is going (it waits for the team,
小明 gets the notice); 小明's ---答复 reaches 融城能源 from the desk; 展鹏达 writes that #3's
fault is back (resolved two days before: it reopens, 小明 is told).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from mail_clients import (
    SUPPORT,
    _threading,
    foxmail_gbk,
    huawei,
    iphone,
    mail_163,
    outlook_qp,
    qq_html,
    quoted,
)

TZ = timezone(timedelta(hours=8))
NEW = Path(__file__).parent / "inbox" / "new"
LATER = Path(__file__).parent / "conversation" / "new"
START = datetime(2026, 11, 16, 8, 30, tzinfo=TZ)


# ---- the fortnight ------------------------------------------------------------------------------

ZHANPENGDA = "展鹏达运维 <ops@zhanpengda.example.cn>"
XINGXING = '"星星充电客服" <kefu@xingxing.example.com>'
LVNENG = "绿能充电 <service@lvneng.example.cn>"
RONGCHENG = "融城能源 运维部 <ops@rongcheng.example.cn>"
YICHONG = "易充科技 王工 <wanggong@yichong.example.com>"
NANWANG = "南网快充客服 <kefu@nanwang.example.cn>"
NANWANG_OPS = "南网快充 运维中心 <yunwei@nanwang.example.cn>"
XIAOMING = "小明 <xiaoming@gongdan.example.cn>"

LVNENG_3 = (
    "运营商：绿能充电\n问题描述：3号桩充不上电，停止代码 2、9\n运营商初步排查结果：重启无效\n"
)
YICHONG_7 = (
    "运营商：易充科技\n手机号：13812340927\n问题描述：用户扫码后充了1分钟就停了，APP显示停止原因10\n"
    "订单号（必填）：20261124094812003317\n\n发自我的iPhone\n"
)
ZHANPENGDA_1 = (
    "运营商:展鹏达\n桩站名称:平湖中泰站\n手机号: 13512348382\n订单号(必填): 20261124081644614873\n"
    "充电桩号:35010400080000200015\n现场网络连接状态:在线\n近期故障状态:无\n"
    "是否异常账单(根据账单号搜索): 是 异常状态: 重复扣费\n"
    "问题描述:用户表示相近时间内产生两笔订单，要求核实。\n"
    "-------------------------\n运营商初步排查结果:\n调取监控，用户只充了一次，停止原因：34（紧急停机）。\n"
)
NANWANG_8_ROWS = [
    ("运营商", "南网快充"),
    ("桩站名称", "广州天河汇景站"),
    ("手机号", "13712345601"),
    ("订单号(必填)", "20261123213305778120"),
    ("充电桩号", "44010600020000300012"),
    ("现场网络连接状态", "在线"),
    ("近期故障状态", "无"),
    ("是否异常账单(根据账单号搜索)", "是"),
    ("异常状态", "拔枪后继续计费"),
    (
        "问题描述",
        "用户21:50拔枪离开，订单一直计费到次日06:00才结束，桩端停止原因：32（拔枪停止）。",
    ),
    ("运营商初步排查结果", "桩端日志显示21:52已上报停止充电，平台订单未及时结束。"),
]


NANHU = (  # 嘉兴南湖站's pile 21: its first two tickets; the third (#11) lacks the order number
    (
        "20261116085512006621",
        "无",
        "用户充电约10分钟后停止，停止原因：47。",
        "远程重启后恢复，先观察。",
    ),
    (
        "20261120101733417702",
        "本周第2次",
        "又有用户充电几分钟后停止，停止原因：47。",
        "模块风扇有异响，已报修。",
    ),
)


def nanhu(n: int) -> str:
    order, faults, description, findings = NANHU[n - 1]
    return (
        f"运营商:展鹏达\n桩站名称:嘉兴南湖站\n手机号: 13512348382\n订单号(必填): {order}\n"
        f"充电桩号:33040200060000100021\n现场网络连接状态:在线\n近期故障状态:{faults}\n"
        "是否异常账单(根据账单号搜索): 否 异常状态: 无\n"
        f"问题描述:{description}\n-------------------------\n运营商初步排查结果:\n{findings}\n"
    )


def _163_table(rows, greeting="您好，工单信息如下：", sign="南网快充 客服部") -> str:
    cells = "".join(f"<tr><td>{label}：</td><td>{value}</td></tr>\n" for label, value in rows)
    return (
        '<div style="line-height:1.7;color:#000000;font-size:14px;font-family:Arial">'
        f"<p>{greeting}</p>"
        '<table border="1" cellpadding="4" style="border-collapse:collapse"><tbody>\n'
        f"{cells}</tbody></table><p>谢谢！</p><p>&nbsp;</p><p>--<br>{sign}</p></div>"
        '<br><br><span title="neteasefooter"><p>&nbsp;</p></span>'
    )


def mails() -> list[bytes]:
    """The day's mails in arrival order."""
    at = lambda day, hour, minute=0: START.replace(hour=hour, minute=minute) + timedelta(day)  # noqa: E731
    return [
        # 11-16 09:05 #1 展鹏达, Foxmail: 嘉兴南湖站's pile stops, code 47 -> ack
        foxmail_gbk(17, ZHANPENGDA, "嘉兴南湖站 充电几分钟后停止", nanhu(1), at(0, 9, 5)),
        # 11-20 10:20 #2 展鹏达: the same pile again, code 47 -> ack (a repeat fault from #11)
        foxmail_gbk(18, ZHANPENGDA, "嘉兴南湖站 又出现充电中断", nanhu(2), at(4, 10, 20)),
        # 11-22 08:30 #3 展鹏达, Foxmail: a complete detailed ticket, stop code 34 -> ack
        foxmail_gbk(1, ZHANPENGDA, "平湖中泰站 重复扣费", ZHANPENGDA_1, at(6, 8, 30)),
        # 11-22 08:42 #4 星星充电, QQ HTML: no 初步排查结果 -> request_info
        qq_html(
            2,
            XINGXING,
            "APP 无法登录",
            (
                "<div>运营商：星星充电</div>"
                "<div>问题描述：运营商后台&nbsp;APP 登录后白屏</div><div><br></div>"
                "<div>谢谢</div>"
            ),
            at(6, 8, 42),
            boundary="===============7769881985006286804==",
        ),
        # 11-23 09:10 #5 绿能充电, Foxmail: codes 2 and 9, no order number -> request_info
        foxmail_gbk(3, LVNENG, "充电桩充不上电", LVNENG_3, at(7, 9, 10)),
        # 11-23 09:11 星星充电's out-of-office, not threaded: stored, never answered
        qq_html(
            4,
            XINGXING,
            "自动回复: APP 无法登录",
            ("<div>您好，我正在休假，回来后尽快回复。</div>"),
            at(7, 9, 11),
            {"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"},
            boundary="===============1928765198396046829==",
        ),
        # 11-24 09:26 #7 融城能源, Outlook QP: a complete detailed ticket, codes 41 and 10 -> ack
        outlook_qp(
            5,
            RONGCHENG,
            "滨江融城站 2号桩充电中断",
            (
                "运营商: 融城能源\n桩站名称: 杭州滨江融城站\n手机号: 13905718826\n"
                "订单号(必填): 20261124071530221907\n"
                "充电桩号: 33010800120000300002\n现场网络连接状态: 在线，4G信号良好\n"
                "近期故障状态: 近一周2次电表告警\n"
                "是否异常账单(根据账单号搜索): 否 异常状态: 无\n"
                "问题描述: 用户充到一半中断，桩端停止代码 41，车辆端停止原因 10。\n"
                "-------------------------------------------------\n"
                "运营商初步排查结果: 现场检查电表接线正常，"
                "断电重启后可以充电，怀疑电表通讯模块故障。\n"
                "-------------------------------------------------\n\n张伟\n融城能源 运维部\n"
            ),
            at(8, 9, 26),
            "rongcheng.example.cn",
        ),
        # 11-24 09:27 融城能源's shared mailbox answers our ack automatically: joins #7 by its tag,
        # no reply
        outlook_qp(
            6,
            RONGCHENG,
            "自动答复: Re: 滨江融城站 2号桩充电中断 [工单#7]",
            (
                "您好，您的邮件已收到，我们将在工作时间内尽快处理。\n此为系统自动回复，请勿直接回复。\n"
            ),
            at(8, 9, 27),
            "rongcheng.example.cn",
            extra={"Auto-Submitted": "auto-replied", "X-Auto-Response-Suppress": "All"},
        ),
        # 11-25 10:05 #8 易充科技, iPhone: full-width colons, code 10, no 初步排查结果
        # -> request_info
        iphone(7, YICHONG, "充电1分钟就停", YICHONG_7, at(9, 10, 5)),
        # 11-26 10:32 #9 南网快充, 163 HTML table: a complete detailed billing ticket, code 32
        # -> ack
        mail_163(
            8, NANWANG, "天河汇景站 拔枪后继续计费", _163_table(NANWANG_8_ROWS), at(10, 10, 32)
        ),
        # 11-26 10:55 绿能充电 answers #5 with the order number and pile: completes it -> ack
        foxmail_gbk(
            9,
            LVNENG,
            "Re: 充电桩充不上电",
            (
                "补充信息如下：\n订单号(必填): 20261124085102119043\n"
                "桩站名称: 武汉东湖绿能停车场站\n"
                "充电桩号: 42010200050000100003\n"
                + quoted(
                    "绿能充电 <service@lvneng.example.cn>",
                    at(7, 9, 10),
                    SUPPORT,
                    "充电桩充不上电",
                    LVNENG_3,
                )
            ),
            at(10, 10, 55),
            _threading("<demo3@foxmail.example.cn>"),
        ),
        # 11-27 11:20 #10 星星充电, QQ HTML: a complete ticket, code 29 -> ack
        qq_html(
            10,
            XINGXING,
            "园区星港站 充电中途停止",
            (
                "<div>运营商：星星充电</div><div>桩站名称：苏州园区星港站</div>"
                "<div>订单号(必填)：20261124104023556781</div>"
                "<div>问题描述：充电中途停止，停止原因：29（用户终止），用户称没有手动结束充电。</div>"
                "<div>运营商初步排查结果：APP端没有用户结束的操作记录，怀疑桩端误判。</div>"
                "<div><br></div><div>星星充电 客服中心</div>"
            ),
            at(11, 11, 20),
        ),
        # 11-27 13:40 易充科技 answers #8 from a Huawei phone: the findings complete it -> ack
        huawei(
            11,
            "wanggong@yichong.example.com",
            "回复：充电1分钟就停",
            (
                "初步排查结果：现场换了一台车可以正常充电，应是该车辆BMS主动停止，已建议车主检修。\n\n发自我的华为手机\n"
                + quoted(
                    "易充科技 王工 <wanggong@yichong.example.com>",
                    at(9, 10, 5),
                    SUPPORT,
                    "充电1分钟就停",
                    YICHONG_7,
                )
            ),
            at(11, 13, 40),
            _threading("<8C1D5F3A-2B4E-4C6A-9E8F-0A1B2C3D4E07@yichong.example.com>"),
        ),
        # 11-28 14:15 the engineer 小明 resolves #3: a resolved notice goes to 展鹏达
        outlook_qp(
            12,
            XIAOMING,
            "Re: 平湖中泰站 重复扣费 [工单#3]",
            (
                "已核实，第二笔订单是平台重复推送产生的，已为用户退款。\n\n"
                "状态(☑表示选定 ): ☑ 已解决 | 处理中 | 暂搁置\n售后(跟单)工程师: 小明\n"
                "---跟踪\n已核对平台账单与桩端充电记录，同一次充电生成了两笔订单。\n"
                "---解决\n已撤销重复订单，费用原路退回。\n"
                + quoted(
                    "展鹏达运维 <ops@zhanpengda.example.cn>",
                    at(6, 8, 30),
                    SUPPORT,
                    "平湖中泰站 重复扣费",
                    ZHANPENGDA_1,
                )
            ),
            at(12, 14, 15),
            "gongdan.example.cn",
            reply_to_id="<demo1@foxmail.example.cn>",
        ),
        # 11-28 15:30 #11 展鹏达, Foxmail: the third ticket on 南湖站's pile, without its order
        # number, codes 47 and 10 -> request_info
        foxmail_gbk(
            13,
            ZHANPENGDA,
            "嘉兴南湖站 充电电流异常",
            (
                "运营商:展鹏达\n桩站名称:嘉兴南湖站\n手机号: 13512348382\n订单号(必填):\n"
                "充电桩号:33040200060000100021\n现场网络连接状态:在线\n近期故障状态:本周第3次\n"
                "是否异常账单(根据账单号搜索): 否 异常状态:\n"
                "问题描述:多名用户反映充电几分钟后停止，停止原因：47、10。\n"
                "-------------------------\n运营商初步排查结果:\n枪线外观正常，模块温度偏高。\n"
            ),
            at(12, 15, 30),
        ),
        # 11-29 08:10 the engineer 小明 puts #9 on hold while the billing team checks
        outlook_qp(
            14,
            XIAOMING,
            "Re: 天河汇景站 拔枪后继续计费 [工单#9]",
            (
                "已转平台计费组核查，结果出来前先搁置。\n\n"
                "状态(☑表示选定 ): 已解决 | 处理中 | ☑ 暂搁置\n售后(跟单)工程师: 小明\n"
                "---跟踪\n已提交计费组核查订单结束逻辑，桩端21:52的停止报文平台已收到，等待计费组回复。\n"
                + quoted(
                    "南网快充客服 <kefu@nanwang.example.cn>",
                    at(10, 10, 32),
                    SUPPORT,
                    "天河汇景站 拔枪后继续计费",
                    "\n".join(f"{label}：{value}" for label, value in NANWANG_8_ROWS) + "\n",
                )
            ),
            at(13, 8, 10),
            "gongdan.example.cn",
            reply_to_id="<6b3f2a08.3a21.18e0a2b3c4d.Coremail.kefu@nanwang.example.cn>",
        ),
        # 11-29 09:20 #12 南网快充's operations staff, Outlook QP: piles offline, no 初步排查结果
        # -> request_info
        outlook_qp(
            15,
            NANWANG_OPS,
            "白云站 APP 显示桩离线",
            (
                "运营商: 南网快充\n"
                "问题描述: 白云万达站5、6号桩在APP上显示离线，现场屏幕显示正常，用户无法扫码。\n\n"
                "李强\n南网快充 运维中心\n"
            ),
            at(13, 9, 20),
            "nanwang.example.cn",
        ),
        # 11-29 10:05 #13 南网快充, 163 HTML: a complete simple ticket, code 4 -> ack
        mail_163(
            16,
            NANWANG,
            "番禺站 多辆车充电几分钟后停止",
            _163_table(
                [
                    ("运营商", "南网快充"),
                    ("订单号(必填)", "20261124172208330915"),
                    ("问题描述", "番禺祈福站今天下午多辆车充电几分钟后停止，停止原因 4。"),
                    ("运营商初步排查结果", "同一辆车换到旁边的桩可以充满，已暂停该桩使用。"),
                ]
            ),
            at(13, 10, 5),
        ),
    ]


RONGCHENG_7 = "<00000501db3e5a$5a1b2c30$0e518405$@rongcheng.example.cn>"  # #7's first mail


def conversation() -> list[bytes]:
    """The mails after the fortnight, in arrival order (each polled at its own time)."""
    at = lambda day, hour, minute=0: START.replace(hour=hour, minute=minute) + timedelta(day)  # noqa: E731
    return [
        # 11-29 14:00 小明 takes #7 with an internal note: nothing goes out
        outlook_qp(
            19,
            XIAOMING,
            "Re: 滨江融城站 2号桩充电中断 [工单#7]",
            "售后(跟单)工程师: 小明\n---跟踪\n电表通讯模块疑为同批次问题，已申请备件。\n",
            at(13, 14, 0),
            "gongdan.example.cn",
            reply_to_id=RONGCHENG_7,
        ),
        # 11-30 09:10 融城能源 asks about #7: it waits for the team, 小明 gets a notice at once
        outlook_qp(
            20,
            RONGCHENG,
            "RE: 滨江融城站 2号桩充电中断 [工单#7]",
            (
                "请问这个工单处理进度如何？现场用户一直在投诉，2号桩今天又中断了两次。\n\n"
                "张伟\n融城能源 运维部\n"
            ),
            at(14, 9, 10),
            "rongcheng.example.cn",
            reply_to_id=RONGCHENG_7,
        ),
        # 11-30 10:30 小明 answers through the desk: the ---答复 block reaches 融城能源
        outlook_qp(
            21,
            XIAOMING,
            "Re: 滨江融城站 2号桩充电中断 [工单#7]",
            (
                "---答复\n备件已寄出，明天上午到场更换电表通讯模块；更换前请暂停使用2号桩。"
                "到场工程师电话 13812345678。\n"
                "---跟踪\n已与融城约好明天上午到场。\n"
            ),
            at(14, 10, 30),
            "gongdan.example.cn",
            reply_to_id=RONGCHENG_7,
        ),
        # 12-01 09:15 展鹏达 writes on #3, resolved on 11-28: it reopens, 小明 is told
        foxmail_gbk(
            22,
            ZHANPENGDA,
            "回复: 平湖中泰站 重复扣费 [工单#3]",
            "问题又出现了：同一位用户今天又被重复扣费一笔，请再核实。\n\n展鹏达运维\n",
            at(15, 9, 15),
            _threading("<demo1@foxmail.example.cn>"),
        ),
    ]


def main() -> None:
    for folder, raws in ((NEW, mails()), (LATER, conversation())):
        folder.mkdir(parents=True, exist_ok=True)
        for n, raw in enumerate(raws, start=1 if folder == NEW else 19):
            (folder / f"{176400000 + n}.M{n}P1.demo").write_bytes(raw)


if __name__ == "__main__":
    main()
