"""The words people see for stored values: statuses, reply kinds, templates, history events and
vendors in Chinese, and ages (SPEC §13: views speak one language)."""

from __future__ import annotations

import re
from datetime import timedelta

from ingest.reading.statuses import FINISHED as FINISHED  # ticket statuses (statuses.py)
from ingest.reading.statuses import STATUSES as STATUSES

STATUS_LABELS = {
    "waiting_info": "待补充信息",
    "in_progress": "处理中",
    "on_hold": "暂搁置",
    "resolved": "已解决",
    "closed": "已关闭",
}
# Outbox kinds: the replies on a thread, the engineers' mail and the digest.
REPLY_KIND_LABELS = {
    "ack": "确认",
    "request_info": "请求补充",
    "reminder": "提醒",
    "hold_notice": "暂搁置通知",
    "resolved_notice": "解决通知",
    "answer": "答复",
    "engineer_notice": "工程师通知",
    "not_understood": "未识别回执",
    "digest": "摘要",
}
# An outbox row's state; bounced: a delivery failure report came back.
REPLY_STATE_LABELS = {
    "queued": "待发送",
    "sending": "发送中",
    "sent": "已发送",
    "failed": "发送失败",
    "bounced": "被退信",
    "held": "因限额暂缓",
}
TEMPLATE_LABELS = {"simple": "简易", "detailed": "详细", "none": "无模板"}
# History events (TicketEvent.kind).
EVENT_LABELS = {
    "created": "新建",
    "field_set": "补充信息",
    "field_changed": "修改信息",
    "completed": "信息已齐全",
    "status_changed": "状态变更",
    "assigned": "指派",
    "note": "备注",
    "on_hold": "暂搁置",
    "reopened": "重新打开",
    "merged": "合并",
    "closed": "关闭",
    "answered": "已答复",
}
# Who a ticket waits on (Ticket.waiting_on).
WAITING_LABELS = {"team": "待处理", "operator": "等待运营商"}
# A stored message's flags (Message.flags): how it was read, joined and answered. A mail we
# sent is flagged with its reply kind (REPLY_KIND_LABELS).
FLAG_LABELS = {
    "unreadable": "无法读取",
    "bounce": "退信报告",
    "reused_message_id": "Message-ID 重复",
    "outside_thread": "线程外来信",
    "foreign_ticket_tag": "引用他人工单号",
    "auto_submitted": "自动邮件",
    "too_large": "邮件过大",
    "too_many_parts": "邮件分段过多",
    "text_truncated": "正文已截断",
    "forged_engineer": "冒充工程师",
    "display_name_address": "显示名含其他地址",
    "outside_operator_domains": "非运营商域名",
    "over_daily_limit": "超出每日回复限额",
    "reply_failed": "回复失败",
}
# Vendors without a table file at hand (the tables name themselves: stopcodes.VendorTable.name).
VENDOR_LABELS = {"sinexcel": "盛弘"}


def _label(labels: dict, value: str | None) -> str:
    return labels.get(value or "", value or "")


def status_label(status: str | None) -> str:
    return _label(STATUS_LABELS, status)


def reply_kind_label(kind: str | None) -> str:
    return _label(REPLY_KIND_LABELS, kind)


def template_label(template: str | None) -> str:
    return _label(TEMPLATE_LABELS, template)


def event_label(kind: str | None) -> str:
    return _label(EVENT_LABELS, kind)


def flag_label(flag: str | None) -> str:
    """A message's flag as people read it (`outside_thread`: 线程外来信, `ack`: 确认)."""
    return FLAG_LABELS.get(flag or "") or reply_kind_label(flag)


# Why a value was refused (completeness.check_*, phones.check_phone), as `tickets show` says it.
INVALID_LABELS = {
    "not digits": "不是数字",
    "not a mobile, landline or masked number": "不是手机、座机或打码的号码",
}
_DIGITS = re.compile(r"(\d+) digits, expected (\d+)-(\d+)")


def invalid_label(reason: str | None) -> str:
    """`not digits`: 不是数字; `9 digits, expected 10-32`: 9 位数字，应为 10-32 位."""
    if counted := _DIGITS.fullmatch(reason or ""):
        n, low, high = counted.groups()
        return f"{n} 位数字，应为 {low}-{high} 位"
    return _label(INVALID_LABELS, reason)


_HELD = re.compile(r"daily reply limit of (\d+) reached for (.+)")


def held_label(reason: str | None) -> str:
    """Why a reply is held (rules.decide's words) as people read it: 已达每日回复上限 3 封（…）."""
    if held := _HELD.fullmatch(reason or ""):
        return f"已达每日回复上限 {held.group(1)} 封（{held.group(2)}）"
    return reason or ""


def vendor_label(vendor: str | None, names: dict[str, str] | None = None) -> str:
    """A vendor key (`sinexcel`) as people name it (盛弘); `names` from the stop-code tables."""
    return (names or {}).get(vendor or "") or _label(VENDOR_LABELS, vendor)


def event_words(kind: str, detail: dict, field_label=lambda key: key) -> str:
    """A history event's detail in words: `指派：小明`, `处理中 → 已解决`, `合并到工单#7`."""
    if "field" in detail:
        new = detail.get("new") or detail.get("text") or ""
        return f"{field_label(detail['field'])}：{new}"
    if kind == "status_changed":
        return f"{status_label(detail.get('old'))} → {status_label(detail.get('new'))}"
    if kind == "assigned":
        return f"指派：{detail.get('new') or '（无）'}"
    if kind == "merged":
        into = detail.get("into") or detail.get("new")
        src = detail.get("from")
        return f"合并到工单#{into}" if into else (f"由工单#{src}合并" if src else "合并")
    if kind == "closed" and detail.get("reason"):
        return f"原因：{detail['reason']}"
    if kind == "reopened" and detail.get("old"):
        return f"{status_label(detail['old'])} → {status_label(detail.get('new') or 'in_progress')}"
    words = {"reason": "原因", "text": "内容", "old": "原", "new": "新", "by": "由"}
    return "；".join(f"{words.get(k, k)}：{v}" for k, v in detail.items() if v not in (None, ""))


def age_zh(delta: timedelta) -> str:
    """`3天4小时`, `5小时`, `12分钟`."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时"
    return f"{hours}小时" if hours else f"{minutes}分钟"


def span_zh(span: timedelta) -> str:
    """A span as people say it (a setting, a wait): 45分钟, 36小时, 2天, 2天12小时, rounded down."""
    hours, seconds = divmod(max(0, int(span.total_seconds())), 3600)
    if not hours:
        return f"{max(1, seconds // 60)}分钟"
    if hours < 48:
        return f"{hours}小时"
    return f"{hours // 24}天" + (f"{hours % 24}小时" if hours % 24 else "")
