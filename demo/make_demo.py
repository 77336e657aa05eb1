"""Write the demo Maildir: a morning of operator emails as their clients send them.

Run once to regenerate demo/inbox/new; the files are committed so the demo needs no script.
"""

from __future__ import annotations

import base64
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime
from datetime import datetime, timedelta, timezone
from pathlib import Path

TZ = timezone(timedelta(hours=8))
NEW = Path(__file__).parent / "inbox" / "new"


def foxmail_gbk(n, sender, subject, body, when, extra=None):
    name, addr = sender.split(" <")
    encoded_name = base64.b64encode(name.encode("gbk")).decode()
    lines = [
        f"From: =?gb2312?B?{encoded_name}?= <{addr}", "To: support@gongdan.example.cn", f"Subject: =?gb2312?B?{base64.b64encode(subject.encode('gbk')).decode()}?=",
        f"Date: {format_datetime(when)}", f"Message-ID: <demo{n}@foxmail.example.cn>", "X-Mailer: Foxmail 7.2.25.254[cn]",
        "Mime-Version: 1.0", 'Content-Type: text/plain; charset="gb2312"', "Content-Transfer-Encoding: base64",
    ] + (extra or [])
    payload = base64.encodebytes(body.encode("gb18030")).decode()
    return ("\r\n".join(lines) + "\r\n\r\n" + payload.replace("\n", "\r\n")).encode("ascii")


def qq_html(n, sender, subject, html, when, extra=None):
    msg = MIMEMultipart("alternative")
    name, addr = sender.split(" <")
    msg["From"] = f"{Header(name.strip(chr(34)), 'utf-8').encode()} <{addr}"
    msg["To"] = "support@gongdan.example.cn"
    msg["Subject"] = Header(subject, "utf-8")
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<demo{n}@qq.example.com>"
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.attach(MIMEText(html, "html", "utf-8"))
    return msg.as_bytes()


def main() -> None:
    start = datetime(2026, 11, 24, 8, 30, tzinfo=TZ)
    mails = {
        "1": foxmail_gbk(1, "展鹏达运维 <ops@zhanpengda.example.cn>", "平湖中泰站 重复扣费", (
            "运营商:展鹏达\n桩站名称:平湖中泰站\n手机号: 13512348382\n订单号(必填): 20261124081644614873\n"
            "充电桩号:35010400080000200015\n现场网络连接状态:在线\n近期故障状态:无\n"
            "是否异常账单(根据账单号搜索): 是 异常状态: 重复扣费\n问题描述:用户表示相近时间内产生两笔订单，要求核实。\n"
            "-------------------------\n运营商初步排查结果:\n调取监控，用户只充了一次，停止原因：34（紧急停机）。\n"), start),
        "2": qq_html(2, "\"星星充电客服\" <kefu@xingxing.example.com>", "APP 无法登录", (
            "<div>运营商：星星充电</div><div>问题描述：运营商后台&nbsp;APP 登录后白屏</div><div><br></div>"
            "<div>谢谢</div>"), start + timedelta(minutes=12)),
        "3": foxmail_gbk(3, "绿能充电 <service@lvneng.example.cn>", "充电桩充不上电", (
            "运营商：绿能充电\n问题描述：3号桩充不上电，停止代码 2、9\n运营商初步排查结果：重启无效\n"), start + timedelta(minutes=40)),
        "4": qq_html(4, "\"星星充电客服\" <kefu@xingxing.example.com>", "自动回复: APP 无法登录", (
            "<div>您好，我正在休假，回来后尽快回复。</div>"), start + timedelta(minutes=41),
            {"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"}),
    }
    NEW.mkdir(parents=True, exist_ok=True)
    for key, raw in mails.items():
        (NEW / f"17640000{key}.M{key}P1.demo").write_bytes(raw)


if __name__ == "__main__":
    main()
