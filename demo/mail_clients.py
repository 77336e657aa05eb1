"""How the operators' mail clients write an email, for the demo Maildir (demo/make_demo.py):
Foxmail (GBK, base64), QQ Mail and 163 Mail (HTML only), Outlook (quoted-printable), an iPhone
and a Huawei phone. Each builder returns the raw bytes its client would send."""

from __future__ import annotations

import base64
import quopri
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime

SUPPORT = "support@gongdan.example.cn"


def _b64_lines(data: bytes, eol: str = "\r\n") -> str:
    return base64.encodebytes(data).decode("ascii").replace("\n", eol)


def _header_lines(headers: dict | list | None) -> list[str]:
    if not headers:
        return []
    if isinstance(headers, dict):
        return [f"{name}: {value}" for name, value in headers.items()]
    return list(headers)


def _threading(in_reply_to: str | None, references: str | None = None) -> list[str]:
    if not in_reply_to:
        return []
    return [f"In-Reply-To: {in_reply_to}", f"References: {references or in_reply_to}"]


def foxmail_gbk(n, sender, subject, body, when, extra=None):
    """Foxmail 7 on Windows: gb2312 label, GBK/GB18030 bytes, base64, CRLF."""
    name, addr = sender.split(" <")
    encoded_name = base64.b64encode(name.encode("gbk")).decode()
    lines = [
        f"From: =?gb2312?B?{encoded_name}?= <{addr}",
        f"To: {SUPPORT}",
        f"Subject: =?gb2312?B?{base64.b64encode(subject.encode('gbk')).decode()}?=",
        f"Date: {format_datetime(when)}",
        f"Message-ID: <demo{n}@foxmail.example.cn>",
        "X-Mailer: Foxmail 7.2.25.254[cn]",
        "Mime-Version: 1.0",
        'Content-Type: text/plain; charset="gb2312"',
        "Content-Transfer-Encoding: base64",
    ] + (extra or [])
    payload = base64.encodebytes(body.encode("gb18030")).decode()
    return ("\r\n".join(lines) + "\r\n\r\n" + payload.replace("\n", "\r\n")).encode("ascii")


def qq_html(n, sender, subject, html, when, extra=None, boundary=None):
    """QQ Mail web: HTML only, UTF-8, base64."""
    msg = MIMEMultipart("alternative", boundary=boundary or f"===============demo{n:02d}qq==")
    name, addr = sender.split(" <")
    msg["From"] = f"{Header(name.strip(chr(34)), 'utf-8').encode()} <{addr}"
    msg["To"] = SUPPORT
    msg["Subject"] = Header(subject, "utf-8")
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<demo{n}@qq.example.com>"
    for name, value in (extra or {}).items():
        msg[name] = value
    msg.attach(MIMEText(html, "html", "utf-8"))
    return msg.as_bytes()


def mail_163(n, sender, subject, html, when, extra=None):
    """163 Mail (Coremail webmail): one text/html part in GBK, base64."""
    name, addr = sender.split(" <")
    lines = [
        (
            f"Received: from {addr.rstrip('>').replace('@', '$')} ( [10.0.0.{n}] )"
            " by ajax-webmail-wmsvr12"
        ),
        f" (Coremail) ; {format_datetime(when)} (CST)",
        f"Date: {format_datetime(when)} (CST)",
        f'From: "=?GBK?B?{base64.b64encode(name.encode("gbk")).decode()}?=" <{addr}',
        f"To: {SUPPORT}",
        f"Subject: =?GBK?B?{base64.b64encode(subject.encode('gbk')).decode()}?=",
        "X-Priority: 3",
        "X-Mailer: Coremail Webmail Server Version XT5.0.14 build 20230109(dcb5de15)",
        "Content-Type: text/html; charset=GBK",
        "MIME-Version: 1.0",
        (
            f"Message-ID: <6b3f2a{n:02d}.3a21.18e0a2b3c4d.Coremail.{addr.split('@')[0]}"
            f"@{addr.split('@')[1].rstrip('>')}>"
        ),
        "X-Coremail-Locale: zh_CN",
        "Content-Transfer-Encoding: base64",
    ] + _header_lines(extra)
    return ("\r\n".join(lines) + "\r\n\r\n" + _b64_lines(html.encode("gbk"))).encode("ascii")


def outlook_qp(
    n, sender, subject, text, when, domain, charset="utf-8", extra=None, reply_to_id=None
):
    """Outlook 16: multipart/alternative, plain text and Word HTML, quoted-printable."""
    stamp = f"01DB3E5A.{n:02d}1B2C30"
    msg = MIMEMultipart("alternative", boundary=f"----=_NextPart_000_00{n:02d}_{stamp}")
    msg.preamble = "This is a multipart message in MIME format."
    name, addr = sender.split(" <")
    msg["From"] = f'"{Header(name, charset).encode()}" <{addr}'
    msg["To"] = f"<{SUPPORT}>"
    for line in _threading(reply_to_id):
        header, value = line.split(": ", 1)
        msg[header] = value
    msg["Subject"] = Header(subject, charset)
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<0000{n:02d}01db3e5a$5a1b2c30$0e5184{n:02d}$@{domain}>"
    msg["X-Mailer"] = "Microsoft Outlook 16.0"
    msg["Thread-Index"] = base64.b64encode(f"demo-thread-{n:02d}-gongdan".encode()).decode()
    msg["Content-Language"] = "zh-cn"
    for header, value in (extra or {}).items():
        msg[header] = value
    qp = Charset(charset)
    qp.body_encoding = QP
    paragraphs = "".join(
        f"<p class=MsoNormal><span lang=ZH-CN>{line or '<o:p>&nbsp;</o:p>'}</span></p>\n"
        for line in text.split("\n")
    )
    html = (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office" xmlns="http://www.w3.org/TR/REC-html40">'
        '<head><meta name=Generator content="Microsoft Word 15 (filtered medium)"></head>'
        '<body lang=ZH-CN link="#0563C1" vlink="#954F72"><div class=WordSection1>\n'
        f"{paragraphs}</div></body></html>\n"
    )
    msg.attach(MIMEText(text, "plain", qp))
    msg.attach(MIMEText(html, "html", qp))
    return msg.as_bytes()


def iphone(n, sender, subject, text, when, extra=None):
    """iPhone Mail: text/plain UTF-8, quoted-printable, full-width colons as the phone
    types them."""
    name, addr = sender.split(" <")
    lines = [
        "Content-Type: text/plain;",
        "\tcharset=utf-8",
        "Content-Transfer-Encoding: quoted-printable",
        f"From: {Header(name, 'utf-8').encode()} <{addr}",
        "Mime-Version: 1.0 (1.0)",
        f"Date: {format_datetime(when)}",
        f"Subject: {Header(subject, 'utf-8').encode()}",
        f"Message-Id: <8C1D5F3A-2B4E-4C6A-9E8F-0A1B2C3D4E{n:02d}@{addr.split('@')[1].rstrip('>')}>",
        f"To: {SUPPORT}",
        "X-Mailer: iPhone Mail (22B91)",
    ] + _header_lines(extra)
    body = quopri.encodestring(text.encode("utf-8")).decode("ascii")
    return ("\n".join(lines) + "\n\n" + body).encode("ascii")


def huawei(n, sender, subject, text, when, extra=None):
    """Huawei Email on Android: text/plain UTF-8, base64."""
    lines = [
        f"Date: {format_datetime(when)}",
        f"From: {sender}",
        f"To: {SUPPORT}",
        f"Message-ID: <hm.5c2a9f1e7b3d4a{n:02d}@{sender.split('@')[1]}>",
        f"Subject: {Header(subject, 'utf-8').encode()}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=UTF-8",
        "Content-Transfer-Encoding: base64",
        "X-Mailer: HuaweiEmail/14.0.1",
    ] + _header_lines(extra)
    return ("\n".join(lines) + "\n\n" + _b64_lines(text.encode("utf-8"), "\n")).encode("ascii")


def quoted(sender: str, when: datetime, to: str, subject: str, body: str) -> str:
    """The `-----原始邮件-----` block Chinese clients put under a reply."""
    return (
        f"\n-----原始邮件-----\n发件人: {sender}\n"
        f"发送时间: {when:%Y年%m月%d日 %H:%M}\n收件人: {to}\n"
        f"主题: {subject}\n\n{body}"
    )
