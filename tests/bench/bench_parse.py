"""Benchmark: the full ticket reading against bare mail-parser over the same generated emails.

    python tests/bench/bench_parse.py [--n 1000] [--seed 20240501] [--passes 3] [--gc] [--json]

Builds N varied, realistic support emails in memory (fixed seed): simple and detailed templates,
filled and partly filled; Foxmail GBK base64, Outlook UTF-8 quoted-printable
multipart/alternative, QQ-style HTML-only `<div>` lines with `&nbsp;`, phone clients' 8-bit
UTF-8; replies with quoted history, forwards, stop codes, small attachments, auto-replies.
Then it times, over the same bytes, (a) bare `mailparser.parse_from_bytes(raw)` and (b) the full
`ingest.reading.ticket.read_ticket(raw)`, which parses with the standard library as mail-parser
does. Each figure is the best of
`--passes` passes (time.perf_counter); the passes alternate bare/full so drift hits both alike.
The garbage collector is disabled during a pass (and run before it) unless `--gc` is given:
the figures then measure the parsing, not when a collection happens to fall. re's pattern cache
is emptied before each pass: every real email brings a new MIME boundary, which the stdlib
parser compiles as a regex, so a second pass must not find those compiled already.

Target: full/bare <= 1.5 (the reading may cost at most half again what mail-parser costs).
This file is a script, not a test: pytest collects only test_*.py files.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import platform
import quopri
import random
import re
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from urllib.parse import quote

try:
    import ingest  # noqa: F401
except ImportError:  # run from a checkout without the editable install
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import mailparser

from ingest.reading.email_reader import NotAnEmail
from ingest.reading.ticket import read_ticket

CRLF = "\r\n"
TZ = timezone(timedelta(hours=8))

OPERATORS = [
    "展鹏达",
    "星驰充电",
    "绿源能源",
    "华电快充",
    "闽能新能源",
    "金桥充电",
    "顺达充电科技",
    "蓝天新能源",
    "东方电桩",
    "鑫源充电",
]
STATIONS = [
    "平湖中泰站",
    "福州仓山万达站",
    "厦门软件园二期站",
    "泉州丰泽公交场站",
    "莆田荔城站",
    "漳州龙文充电站",
    "宁德蕉城站",
    "三明沙县物流园站",
    "南平建阳站",
    "龙岩新罗站",
]
DOMAINS = [
    "zhanpengda.cn",
    "xingchi-ev.com",
    "lvyuan-energy.cn",
    "qq.com",
    "163.com",
    "126.com",
    "foxmail.com",
    "huadian-kc.cn",
]
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈杰", "杨帆", "赵磊", "黄敏", "周强", "吴静"]
PROBLEMS = [
    "用户表示相近时间内产生多笔订单,要求核实,同意把号码告知运营商。",
    "用户反映充电未成功但被扣费{amount}元,要求退款。",
    "桩显示充电中,App端订单已结束,电量与桩端记录不一致。",
    "用户扫码后充不上电,桩屏幕提示启动失败。",
    "充电到一半自动停止,停止原因：{code},用户要求说明原因。",
    "平台账单金额与运营商后台不一致,差额{amount}元。",
    "桩离线后恢复,离线期间的订单未上传。",
    "用户余额不足提示,但账户余额显示有{amount}元。",
    "运营商后台无法导出上月对账单,请协助。",
    "新增的站点在App上搜索不到,请帮忙看一下配置。",
    "请问如何修改站点的服务费计费规则?",
    "桩端停止代号{code}、{code2},连续出现多次,麻烦分析。",
]
FINDINGS = [
    "运营商调取监控,初步判断用户扫码时把旁边的二维码当成自己充电枪号扫码了。",
    "已重启充电桩,问题依旧。",
    "现场查看桩联网正常,4G信号满格。",
    "已核对桩端记录,停止原因为{code}({meaning})。",
    "查看后台日志,订单在{hh}:{mm}上报结束。",
    "无",
    "暂未排查。",
    "已更换充电枪,待观察。",
]
NETWORK = ["桩联网平台显示对应桩的状态为非离线状态。", "在线", "4G联网正常", "间歇性离线", "离线"]
FAULTS = [
    "桩联网平台显示对应桩在16:xx发生离线(bms通讯异常、急停等),且在17:xx恢复急停按钮,桩恢复正常。",
    "无",
    "近一周无故障",
    "急停触发两次",
    "BMS通讯异常",
]
MEANINGS = {
    34: "紧急停机",
    32: "拔枪停止",
    10: "汽车电池管理主动停止",
    29: "用户终止",
    41: "电表通讯异常",
    46: "充电电压异常",
    51: "断电",
    2: "与车辆通信超时",
    99: "其他",
}
REPLY_TEXTS = [
    "补充一下信息,见下。",
    "您好,订单号已补上,请查收。",
    "谢谢,请尽快处理。",
    "已按模板填写,麻烦看一下。",
    "用户又来电催了,请帮忙加急。",
]


# --------------------------------------------------------------------------------------------
# Ticket text


def _order_no(rng: random.Random) -> str:
    t = datetime(2024, 1, 1) + timedelta(seconds=rng.randrange(365 * 86400))
    return t.strftime("%Y%m%d%H%M%S") + "".join(rng.choice("0123456789") for _ in range(6))


def _phone(rng: random.Random) -> str:
    mobile = rng.choice("3578") + "".join(rng.choice("0123456789") for _ in range(9))
    shape = rng.random()
    if shape < 0.5:
        return "1" + mobile
    if shape < 0.8:
        return f"1{mobile[:2]}****{mobile[-4:]}"
    return f"1{mobile[:2]}xxxxxx"


def _fill(text: str, rng: random.Random) -> str:
    code, code2 = rng.sample(sorted(MEANINGS), 2)
    return text.format(
        code=code,
        code2=code2,
        meaning=MEANINGS[code],
        amount=rng.randint(3, 300),
        hh=rng.randint(0, 23),
        mm=f"{rng.randint(0, 59):02d}",
    )


def ticket_lines(rng: random.Random) -> tuple[str, list[str]]:
    """(template kind, lines) of a ticket as an operator types it: full, partial or sloppy."""
    colon = rng.choice(["：", ":", "：", ": ", " ： "])
    filled = rng.random() < 0.6  # otherwise some values are left empty or lines dropped
    operator = rng.choice(OPERATORS)
    lines: list[str] = []

    def field(label: str, value: str, keep: float = 0.85) -> None:
        if filled or rng.random() < keep:
            lines.append(f"{label}{colon}{value}")
        elif rng.random() < 0.5:
            lines.append(f"{label}{colon}")  # the blank template line

    kind = "detailed" if rng.random() < 0.6 else "simple"
    field("运营商", operator, 0.9)
    if kind == "detailed":
        field("桩站名称", rng.choice(STATIONS))
        field("手机号", _phone(rng))
        field(
            rng.choice(["订单号(必填)", "订单号（必填）", "订单号", "账单号"]), _order_no(rng), 0.6
        )
        field("充电桩号", "3501040008" + "".join(rng.choice("0123456789") for _ in range(10)))
        field("现场网络连接状态", rng.choice(NETWORK) + rng.choice(["", "(此为示例,请按实际填写)"]))
        field("近期故障状态", rng.choice(FAULTS))
        bill = f"是否异常账单(根据账单号搜索){colon}{rng.choice(['是', '否', '无'])}"
        lines.append(
            bill
            + (
                f" 异常状态{colon}{rng.choice(['无', '重复扣费', '金额异常'])}"
                if rng.random() < 0.7
                else ""
            )
        )
    field("问题描述", _fill(rng.choice(PROBLEMS), rng), 0.9)
    if rng.random() < 0.4:
        lines.append(_fill(rng.choice(PROBLEMS), rng))  # a second line of the description block
    lines.append("~-~-~-~-~-~-~-~-~-~-~-~-~-~-~-~-~-~-~-~-~-~-~-~--".replace("~", ""))
    field("运营商初步排查结果", _fill(rng.choice(FINDINGS), rng), 0.7)
    if rng.random() < 0.15:
        lines += [
            "",
            "------------------------",
            "---跟踪",
            "已联系运营商核实。",
            "",
            "---解决",
            "",
            "状态(☑表示选定 ): 已解决 | ☑ 处理中 | 暂搁置",
            "",
            "售后(跟单)工程师: 小明",
        ]
    return kind, lines


def free_text(rng: random.Random) -> list[str]:
    """A mail that ignores the template: just a sentence or two."""
    return [_fill(rng.choice(PROBLEMS), rng), rng.choice(["麻烦尽快处理,谢谢!", "谢谢", ""])]


# --------------------------------------------------------------------------------------------
# MIME shapes


def _ew(text: str, charset: str, rng: random.Random) -> str:
    """An RFC 2047 encoded word, B or Q, as mail clients write subjects."""
    data = text.encode("gb18030" if charset.lower() in ("gb2312", "gbk", "gb18030") else charset)
    if rng.random() < 0.8:
        return f"=?{charset}?B?{base64.b64encode(data).decode()}?="
    q = "".join(
        chr(b) if (0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A) else f"={b:02X}"
        for b in data
    )
    return f"=?{charset}?Q?{q}?="


def _b64(data: bytes) -> str:
    return base64.encodebytes(data).decode().replace("\n", CRLF)


def _qp(text: str) -> str:
    return (
        quopri.encodestring(text.replace(CRLF, "\n").encode("utf-8")).decode().replace("\n", CRLF)
    )


def _html_divs(lines: list[str], rng: random.Random) -> str:
    out = []
    for line in lines:
        if not line:
            out.append("<div>&nbsp;</div>" if rng.random() < 0.7 else "<div><br></div>")
        else:
            text = line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            text = text.replace(" ", "&nbsp;", 1) if rng.random() < 0.5 else text
            out.append(f"<div>{text}</div>")
    return "".join(out)


def _outlook_html(lines: list[str]) -> str:
    body = "".join(
        f'<p class="MsoNormal"><span lang="EN-US" style="font-family:\u7b49\u7ebf">'
        f"{(line or '&nbsp;').replace('<', '&lt;')}<o:p></o:p></span></p>\r\n"
        for line in lines
    )
    return (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>'
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        "<style><!-- p.MsoNormal {margin:0cm;font-size:10.5pt;} --></style></head>"
        f'<body lang="ZH-CN"><div class="WordSection1">\r\n{body}</div></body></html>'
    )


def _headers(h: list[tuple[str, str]]) -> str:
    return "".join(f"{k}: {v}{CRLF}" for k, v in h)


def _attachment(rng: random.Random, boundary: str) -> str:
    name = rng.choice(["现场照片.jpg", "订单截图.png", "对账单.xlsx", "桩端日志.txt"])
    size = rng.randint(800, 6000)
    data = bytes(rng.getrandbits(8) for _ in range(size))
    ctype = {
        "jpg": "image/jpeg",
        "png": "image/png",
        "txt": "text/plain",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }[name.rsplit(".", 1)[1]]
    if rng.random() < 0.5:  # RFC 2231
        disp = f"attachment; filename*=utf-8''{quote(name)}"
        ctype_line = f"{ctype}; name*=utf-8''{quote(name)}"
    else:  # encoded word, as Foxmail and QQ do
        word = f'"=?utf-8?B?{base64.b64encode(name.encode()).decode()}?="'
        disp, ctype_line = f"attachment; filename={word}", f"{ctype}; name={word}"
    return (
        f"--{boundary}{CRLF}Content-Type: {ctype_line}{CRLF}Content-Transfer-Encoding: base64{CRLF}"
        f"Content-Disposition: {disp}{CRLF}{CRLF}{_b64(data)}"
    )


def build_email(rng: random.Random, n: int) -> tuple[str, bytes]:
    """One email: (shape label, raw bytes)."""
    client = rng.choices(["foxmail", "outlook", "qq", "phone"], weights=[3, 3, 3, 1])[0]
    role = rng.choices(["new", "reply", "forward", "auto", "freetext"], weights=[10, 5, 2, 1, 2])[0]
    sender_name, domain = rng.choice(NAMES), rng.choice(DOMAINS)
    sender = f"ops{rng.randint(1, 99)}@{domain}"
    date = datetime(2024, 5, 1, tzinfo=TZ) + timedelta(minutes=rng.randrange(200_000))
    msgid = f"<{date:%Y%m%d%H%M%S}{n:05d}.{rng.getrandbits(32):08x}@{domain}>"
    kind, lines = ticket_lines(rng)
    subject = rng.choice(
        [
            "充电桩异常扣费工单",
            "工单:订单异常",
            f"{rng.choice(STATIONS)}充不上电",
            "系统使用疑问",
            "关于退款的工单",
            "桩端停止原因咨询",
        ]
    )
    extra: list[tuple[str, str]] = []
    label = f"{client}/{role}"

    if role == "freetext":
        lines = free_text(rng)
    elif role == "reply":
        old_kind, old = ticket_lines(rng)
        new = [rng.choice(REPLY_TEXTS)] + (lines if rng.random() < 0.6 else [])
        if rng.random() < 0.3:
            new.append(f"停止原因：{rng.choice(sorted(MEANINGS))}")
        if client == "outlook" or rng.random() < 0.4:
            quoted = [
                "",
                "-----原始邮件-----",
                "发件人: support <support@example.cn>",
                f"发送时间: {date - timedelta(days=1):%Y年%m月%d日 %H:%M}",
                f"收件人: {sender}",
                f"主题: Re: {subject}",
                "",
                *old,
            ]
        else:
            quoted = [
                "",
                f"在 {date - timedelta(days=1):%Y-%m-%d %H:%M}，support@example.cn 写道：",
                *(f"> {line}" for line in old),
            ]
        lines = new + quoted
        subject = (
            rng.choice(["回复: ", "Re: ", "答复: "]) + subject + f" [工单#{rng.randint(1, 5000)}]"
        )
        parent = f"<reply{n}.{rng.getrandbits(24):06x}@example.cn>"
        extra += [("In-Reply-To", parent), ("References", parent)]
    elif role == "forward":
        fwd_date = date - timedelta(hours=rng.randint(1, 72))
        lines = [
            "请看下面这个工单,谢谢。",
            "",
            "------------------ 原始邮件 ------------------"
            if client == "qq"
            else "---------- Forwarded message ---------",
            f"发件人: {rng.choice(NAMES)} <station{rng.randint(1, 9)}@{rng.choice(DOMAINS)}>",
            f"发送时间: {fwd_date:%Y年%m月%d日(星期三) %H:%M}",
            f"收件人: {sender}",
            f"主题: {subject}",
            "",
            *lines,
        ]
        subject = rng.choice(["转发: ", "Fwd: ", "FW: "]) + subject
    elif role == "auto":
        lines = [
            "您好，我现在休假中，无法及时回复邮件。",
            "紧急事务请联系 138****0000。",
            "",
            *lines[:3],
        ]
        subject = rng.choice(["自动回复: ", "Automatic reply: ", "Auto Reply: "]) + subject
        extra += (
            [("Auto-Submitted", "auto-replied")] if rng.random() < 0.7 else [("X-Autoreply", "yes")]
        )

    if role != "auto" and rng.random() < 0.2 and not any("停止原因" in line for line in lines):
        lines.insert(
            rng.randrange(len(lines) + 1),
            f"停止原因：{rng.choice(sorted(MEANINGS))}"
            + rng.choice(["", "（紧急停机）", f"、{rng.choice(sorted(MEANINGS))}"]),
        )
    if rng.random() < 0.3:
        lines += [
            "",
            "--",
            f"{sender_name}",
            f"{rng.choice(OPERATORS)}运维部  电话 0591-8{rng.randint(1000000, 9999999)}",
        ]
    attach = role not in ("auto",) and rng.random() < 0.2
    text = CRLF.join(lines) + CRLF

    head = [("Date", format_datetime(date)), ("Message-ID", msgid), ("To", "support@example.cn")]
    if client == "foxmail":
        cs = rng.choice(["gb2312", "GB2312", "gbk"])
        head += [
            ("From", f'"{_ew(sender_name, cs, rng)}" <{sender}>'),
            ("Subject", _ew(subject, cs, rng)),
            ("X-Priority", "3"),
            ("X-GUID", f"{rng.getrandbits(64):016X}"),
            ("X-Has-Attach", "yes" if attach else "no"),
            ("X-Mailer", "Foxmail 7.2.25.228[cn]"),
            ("Mime-Version", "1.0"),
        ]
        payload = _b64(text.encode("gb18030"))
        inner_b = f"----=_001_NextPart{rng.getrandbits(40):010x}_=----"
        html = (
            '<html><head><meta http-equiv="content-type" content="text/html; charset='
            + cs
            + '"><style>body { line-height: 1.5; }</style></head><body><div>'
            + _html_divs(lines, rng)
            + "</div></body></html>"
        )
        body = (
            f'Content-Type: multipart/alternative;{CRLF}\tboundary="{inner_b}"{CRLF}{CRLF}'
            f"This is a multi-part message in MIME format.{CRLF}{CRLF}"
            f'--{inner_b}{CRLF}Content-Type: text/plain;{CRLF}\tcharset="{cs}"{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{payload}{CRLF}"
            f'--{inner_b}{CRLF}Content-Type: text/html;{CRLF}\tcharset="{cs}"{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{_b64(html.encode('gb18030'))}{CRLF}"
            f"--{inner_b}--{CRLF}{CRLF}"
        )
        body_bytes = body.encode("ascii")
    elif client == "outlook":
        head += [
            ("From", f'"{_ew(sender_name, "utf-8", rng)}" <{sender}>'),
            ("Subject", _ew(subject, "utf-8", rng)),
            ("Thread-Topic", _ew(subject, "utf-8", rng)),
            ("Thread-Index", base64.b64encode(rng.randbytes(22)).decode()),
            ("Content-Language", "zh-CN"),
            ("X-MS-Has-Attach", "yes" if attach else ""),
            ("X-Mailer", "Microsoft Outlook 16.0"),
            ("MIME-Version", "1.0"),
        ]
        inner_b = f"_000_{rng.getrandbits(64):016X}_"
        body = (
            f'Content-Type: multipart/alternative; boundary="{inner_b}"{CRLF}{CRLF}'
            f'--{inner_b}{CRLF}Content-Type: text/plain; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}{_qp(text)}{CRLF}"
            f'--{inner_b}{CRLF}Content-Type: text/html; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
            f"{_qp(_outlook_html(lines))}{CRLF}"
            f"--{inner_b}--{CRLF}"
        )
        body_bytes = body.encode("ascii")
    elif client == "qq":
        cs = rng.choice(["gb18030", "GB18030", "utf-8"])
        head += [
            ("From", f'"{_ew(sender_name, cs, rng)}" <{sender}>'),
            ("Subject", _ew(subject, cs, rng)),
            ("X-QQ-MIME", "TCMime 1.0 by Tencent"),
            ("X-Mailer", "QQMail 2.x"),
            ("X-QQ-Mailer", "QQMail 2.x"),
            ("Mime-Version", "1.0"),
        ]
        html = f'<meta http-equiv="Content-Type" content="text/html; charset={cs}">' + _html_divs(
            lines, rng
        )
        enc = "gb18030" if cs.lower() == "gb18030" else "utf-8"
        body = (
            f'Content-Type: text/html;{CRLF}\tcharset="{cs}"{CRLF}'
            f"Content-Transfer-Encoding: base64{CRLF}{CRLF}{_b64(html.encode(enc))}"
        )
        body_bytes = body.encode("ascii")
    else:  # a phone client: 8-bit UTF-8 plain text
        head += [
            ("From", f"{sender_name} <{sender}>"),
            ("Subject", subject),
            ("MIME-Version", "1.0"),
            ("X-Mailer", "iPhone Mail (21E236)"),
        ]
        body_bytes = (
            f"Content-Type: text/plain; charset=utf-8{CRLF}"
            f"Content-Transfer-Encoding: 8bit{CRLF}{CRLF}"
        ).encode() + text.encode("utf-8")
    head += extra

    if attach:
        outer = f"----=_Part_{rng.getrandbits(48):012x}"
        raw = (
            _headers(head) + f'Content-Type: multipart/mixed; boundary="{outer}"{CRLF}{CRLF}'
            f"This is a multi-part message in MIME format.{CRLF}{CRLF}--{outer}{CRLF}"
        ).encode("utf-8")
        raw += body_bytes + CRLF.encode()
        for _ in range(rng.choice([1, 1, 2])):
            raw += _attachment(rng, outer).encode("ascii")
        raw += f"--{outer}--{CRLF}".encode()
        label += "+attachment"
    else:
        raw = _headers(head).encode("utf-8") + body_bytes
    return label, raw


def build_corpus(n: int, seed: int) -> tuple[list[bytes], Counter]:
    rng = random.Random(seed)
    shapes: Counter = Counter()
    corpus = []
    for i in range(n):
        label, raw = build_email(rng, i)
        shapes[label.split("+")[0].split("/")[0]] += 1
        shapes[label.split("+")[0].split("/")[1]] += 1
        shapes["attachment"] += "+attachment" in label
        corpus.append(raw)
    return corpus, shapes


# --------------------------------------------------------------------------------------------
# Timing


def _bare(corpus: list[bytes]) -> None:
    parse = mailparser.parse_from_bytes
    for raw in corpus:
        parse(raw)


def _full(corpus: list[bytes]) -> None:
    for raw in corpus:
        read_ticket(raw)


def _timed(fn, corpus: list[bytes], keep_gc: bool) -> float:
    # Every real mail brings a new MIME boundary, which the stdlib parser compiles into a regex
    # through re's 512-entry cache: start each pass with that cache empty, so a repeated pass
    # over the same N < 512 emails does not get its boundaries for free.
    re.purge()
    gc.collect()
    was_enabled = gc.isenabled()
    if not keep_gc:
        gc.disable()
    try:
        start = time.perf_counter()
        fn(corpus)
        return time.perf_counter() - start
    finally:
        if was_enabled:
            gc.enable()


def check_corpus(corpus: list[bytes]) -> dict:
    """Read every email once (also the warm-up): what the generated mail reads as."""
    stats: Counter = Counter()
    for raw in corpus:
        try:
            r = read_ticket(raw)
        except NotAnEmail:
            stats["not_an_email"] += 1
            continue
        stats[f"template_{r.assessment.template}"] += 1
        stats["complete"] += r.assessment.complete
        stats["with_stop_codes"] += bool(r.stop_codes)
        stats["auto_submitted"] += r.auto_submitted
        stats["with_attachments"] += bool(r.mail.attachments)
    return dict(sorted(stats.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000, help="number of emails (default 1000)")
    ap.add_argument("--seed", type=int, default=20240501, help="random seed (default 20240501)")
    ap.add_argument(
        "--passes", type=int, default=3, help="passes per figure; the best counts (default 3)"
    )
    ap.add_argument("--gc", action="store_true", help="keep the garbage collector on during a pass")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args(argv)

    corpus, shapes = build_corpus(args.n, args.seed)
    readings = check_corpus(corpus)
    _bare(corpus[:50])

    bare_runs, full_runs = [], []
    for _ in range(args.passes):
        bare_runs.append(_timed(_bare, corpus, args.gc))
        full_runs.append(_timed(_full, corpus, args.gc))
    bare, full = min(bare_runs), min(full_runs)
    n = len(corpus)
    result = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "mailparser": getattr(mailparser, "__version__", None) or _dist_version("mail-parser"),
        "n": n,
        "seed": args.seed,
        "passes": args.passes,
        "gc_during_pass": args.gc,
        "corpus_bytes": sum(map(len, corpus)),
        "bare_total_s": round(bare, 4),
        "full_total_s": round(full, 4),
        "bare_per_msg_ms": round(bare / n * 1000, 4),
        "full_per_msg_ms": round(full / n * 1000, 4),
        "overhead_per_msg_ms": round((full - bare) / n * 1000, 4),
        "ratio_full_bare": round(full / bare, 3),
        "target_ratio": 1.5,
        "within_target": full / bare <= 1.5,
        "bare_runs_s": [round(t, 4) for t in bare_runs],
        "full_runs_s": [round(t, 4) for t in full_runs],
        "shapes": dict(sorted(shapes.items())),
        "readings": readings,
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(
        f"gongdan parse benchmark — Python {result['python']} ({result['implementation']}), "
        f"mail-parser {result['mailparser']}"
    )
    print(
        f"N = {n} emails, {result['corpus_bytes'] / 1e6:.2f} MB, seed {args.seed}, "
        f"best of {args.passes} "
        f"passes, gc {'on' if args.gc else 'off'} during a pass"
    )
    print("shapes:   " + ", ".join(f"{k} {v}" for k, v in result["shapes"].items()))
    print("readings: " + ", ".join(f"{k} {v}" for k, v in readings.items()))
    print()
    rows = [
        ("bare  mailparser.parse_from_bytes", bare, bare_runs),
        ("full  ingest.reading.ticket.read_ticket", full, full_runs),
        ("overhead (full - bare)", full - bare, None),
    ]
    print(f"{'':34}{'total s':>9}{'ms/msg':>9}{'msg/s':>8}   runs s")
    for name, total, runs in rows:
        line = f"{name:<34}{total:>9.3f}{total / n * 1000:>9.3f}"
        if runs:
            line += f"{n / total:>8.0f}   " + " ".join(f"{t:.3f}" for t in runs)
        print(line)
    print()
    verdict = "OK" if result["within_target"] else "OVER TARGET"
    print(f"ratio full/bare = {full / bare:.3f}   (target <= 1.5: {verdict})")
    return 0


def _dist_version(name: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return None


if __name__ == "__main__":
    sys.exit(main())
