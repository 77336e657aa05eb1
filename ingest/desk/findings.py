"""What `gongdan status` says of each problem and notice it finds: a code and its parameters,
said in English for --json and scripts (the words they have always read) and in Chinese, times
in the desk's zone to the minute, for people (SPEC §13)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta, tzinfo

from ingest.config.checks import public_domains_warning
from ingest.reading.display_words import span_zh
from replies.local_time import local_minute


@dataclass(frozen=True)
class Finding:
    """One problem or notice: `code` names it, `params` hold its figures (times as ISO text,
    as the JSON report gives them)."""

    code: str
    params: dict = field(default_factory=dict)


def _replies(n: int) -> str:
    return f"{n} {'reply' if n == 1 else 'replies'}"


def english(f: Finding) -> str:
    """The finding as --json says it."""
    p = f.params
    if f.code == "mailbox_stale":
        error = f" (last error: {p['last_error']})" if p.get("last_error") else ""
        since = p["last_success"] or "ever"
        return f"mailbox {p['name']}: no successful cycle since {since}{error}"
    if f.code == "reply_failing":
        return f"outbox: reply {p['message_id']} failing for over an hour: {p['error']}"
    if f.code == "replies_waiting":
        n = p["count"]
        return (
            f"outbox: {n} {'reply' if n == 1 else 'replies'} still waiting past the first retry "
            f"(the oldest queued {p['oldest']})"
        )
    if f.code == "last_send_failed":
        return f"outbox: the last send ({p['at']}) failed: {p['error']}"
    if f.code == "replies_bounced":
        return (
            f"outbox: {_replies(p['count'])} bounced in the last {p['days']} days "
            "(gongdan outbox list --bounced)"
        )
    if f.code == "emails_unreadable":
        n = p["count"]
        return (
            f"{n} {'email' if n == 1 else 'emails'} kept unreadable in the last {p['days']} days, "
            f"the newest: {p['error']} (gongdan export shows them)"
        )
    if f.code == "public_operator_domains":
        return public_domains_warning(p["domains"])
    if f.code == "engineer_mail_unverified":
        return (
            "engineer mail is not verified: anyone who writes from an engineer's address can "
            "change tickets; set [desk] trusted_authserv_id (docs/engineers.md)"
        )
    if f.code == "screenshots_unread":
        return (
            "screenshots are not read: the OCR engine is not installed "
            "(pip install 'gongdan[ocr]'; docs/desk.md)"
        )
    if f.code == "replies_held":
        return (
            f"outbox: {_replies(p['count'])} held back by the daily reply limit "
            "(gongdan outbox list --held; gongdan outbox release sends them)"
        )
    raise ValueError(f"unknown finding {f.code!r}")


def chinese(f: Finding, tz: tzinfo) -> str:
    """The finding for people, times in `tz` to the minute; commands and settings as typed."""
    p = f.params
    when = lambda value: local_minute(value, tz) or "从未"  # noqa: E731
    if f.code == "mailbox_stale":
        error = f"（上次错误：{p['last_error']}）" if p.get("last_error") else ""
        span = span_zh(timedelta(seconds=p["intervals"] * p["interval"]))
        return (
            f"邮箱 {p['name']}：{p['intervals']} 个周期（{span}）未成功收取，"
            f"上次成功 {when(p['last_success'])}{error}"
        )
    if f.code == "reply_failing":
        return f"发件箱：回复 {p['message_id']} 发送失败已超过 1 小时：{p['error']}"
    if f.code == "replies_waiting":
        return (
            f"发件箱：{p['count']} 封回复过了首次重试时间仍未发出"
            f"（最早一封 {when(p['oldest'])} 排队）"
        )
    if f.code == "last_send_failed":
        return f"发件箱：上次发送（{when(p['at'])}）失败：{p['error']}"
    if f.code == "replies_bounced":
        return (
            f"发件箱：近 {p['days']} 天有 {p['count']} 封回复被退信"
            "（gongdan outbox list --bounced 查看）"
        )
    if f.code == "emails_unreadable":
        return (
            f"近 {p['days']} 天有 {p['count']} 封邮件无法读取，最新一封：{p['error']}"
            "（gongdan export 可查看）"
        )
    if f.code == "public_operator_domains":
        return (
            f"配置 [desk] operator_domains 含公共邮箱域名（{'、'.join(p['domains'])}）："
            "任何人都能在这些域名注册邮箱，因此它们不会被当作同事或 Reply-To 的可信域名"
        )
    if f.code == "engineer_mail_unverified":
        return (
            "工程师邮件未经验证：任何人用工程师的地址发信都能修改工单；"
            "请设置 [desk] trusted_authserv_id（见 docs/engineers.md）"
        )
    if f.code == "screenshots_unread":
        return "截图不会被识别：未安装 OCR 引擎（pip install 'gongdan[ocr]'；见 docs/desk.md）"
    if f.code == "replies_held":
        return (
            f"发件箱：{p['count']} 封回复因每日回复限额暂缓"
            "（gongdan outbox list --held 查看；gongdan outbox release 发出）"
        )
    raise ValueError(f"unknown finding {f.code!r}")


def report_json(report: dict) -> dict:
    """The report as --json gives it: problems and notices as their English sentences."""
    return {
        **report,
        "problems": [english(f) for f in report["problems"]],
        "notices": [english(f) for f in report["notices"]],
    }
