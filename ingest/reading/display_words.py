"""The words people see for stored values: ticket statuses in Chinese, and ages."""

from __future__ import annotations

from datetime import timedelta

# Ticket statuses. `waiting_info`: incomplete, waiting for the operator; the rest follow 状态.
# `closed`: finished without a resolution (merged into another ticket, automatic mail, closed by
# a person; SPEC §13).
STATUSES = ("waiting_info", "in_progress", "on_hold", "resolved", "closed")
FINISHED = ("resolved", "closed")  # no longer open: out of the open lists, never reminded
STATUS_LABELS = {
    "waiting_info": "待补充信息",
    "in_progress": "处理中",
    "on_hold": "暂搁置",
    "resolved": "已解决",
    "closed": "已关闭",
}


def status_label(status: str | None) -> str:
    return STATUS_LABELS.get(status or "", status or "")


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
