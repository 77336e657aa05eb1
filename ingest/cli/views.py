"""Tickets as terminal tables, for people (ingest.store.ticket_list gives them as plain data)."""

from __future__ import annotations

from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ingest.reading.clean_text import clean_text
from ingest.reading.display_words import age_zh, status_label
from ingest.reading.fields import catalog
from ingest.reading.phones import mask_phone, mask_phones_in_text
from ingest.rules.bounces import shown_reason

# An outbox row's state as `tickets show` says it; bounced: a delivery failure report came back.
REPLY_STATES = {
    "queued": "待发送",
    "sent": "已发送",
    "failed": "发送失败",
    "bounced": "被退信",
    "held": "因限额暂缓",
}


def _cell(value) -> Text:
    """A value from mail or the database as a table cell: no control characters or terminal
    escapes (clean_text), and never read as rich markup (`[red]` in a subject stays text)."""
    return Text(clean_text("" if value is None else str(value)))


def _line(value) -> str:
    """The same for a value inside a line that carries our own markup."""
    return escape(clean_text("" if value is None else str(value)))


def age(created: str | None, now: datetime) -> str:
    """How long ago a ticket was created (`created_at` as JSON shows it), as of `now`."""
    if not created:
        return ""
    return age_zh(now - datetime.fromisoformat(created))


def render_list(console: Console, rows: list[dict], now: datetime) -> None:
    """The tickets as a table, their ages as of `now`."""
    table = Table(title=f"{len(rows)} 个工单", show_lines=False)
    for name in ("#", "状态", "运营商", "桩站", "订单号", "缺少", "停止代号", "工程师", "创建"):
        table.add_column(name, overflow="fold")
    labels = {s.key: s.label for s in catalog().fields}
    for r in rows:
        table.add_row(
            *map(
                _cell,
                (
                    r["id"],
                    status_label(r["status"]),
                    r["operator"] or r["operator_address"],
                    r["station"],
                    r["order_no"],
                    "、".join(labels.get(k, k) for k in r["missing"]),
                    " ".join(str(c["code"]) for c in r["stop_codes"]),
                    r["engineer"],
                    age(r["created_at"], now),
                ),
            )
        )
    console.print(table)


def render_show(console: Console, d: dict) -> None:
    labels = {s.key: s.label for s in catalog().fields}
    console.print(f"[bold]工单#{d['id']}[/bold]  {_line(d['subject'])}")
    status = status_label(d["status"])
    console.print(
        _line(
            f"状态: {status}   工程师: {d['engineer'] or '-'}"
            f"   模板: {d['template']}   运营商邮箱: {d['operator_address']}"
        )
    )
    if d.get("merged_into"):  # its mail, history and replies are on that ticket now
        console.print(_line(f"已合并到 工单#{d['merged_into']}，请查看该工单"))
    elif d.get("closed_reason"):
        console.print(_line(f"关闭原因: {d['closed_reason']}"))
    fields = Table(show_header=False, box=None)
    fields.add_column(style="bold")
    fields.add_column(overflow="fold")
    for key, value in d["fields"].items():
        shown = mask_phone(value) if key == "phone" else mask_phones_in_text(value)
        fields.add_row(_cell(labels.get(key, key)), _cell(shown))
    console.print(fields)
    if d["missing"]:
        console.print(_line("缺少: " + "、".join(labels.get(k, k) for k in d["missing"])))
    for key, reason in d["invalid"].items():
        console.print(_line(f"无效: {labels.get(key, key)} ({reason})"))
    for code in d["stop_codes"]:
        meaning = code["meaning"] or "无代号表"  # a brand without a table (SPEC §5)
        console.print(_line(f"停止代号: {code['code']} {meaning} ({code['vendor']})"))
    thread = Table(title="邮件往来")
    for name in ("时间", "方向", "发件人", "主题", "标记"):
        thread.add_column(name, overflow="fold")
    for m in d["messages"]:
        thread.add_row(
            *map(
                _cell,
                (
                    m["date"],
                    "收" if m["direction"] == "in" else "发",
                    m["from"],
                    m["subject"],
                    " ".join(m["flags"]),
                ),
            )
        )
    console.print(thread)
    if d["outbox"]:
        replies = Table(title="回复")
        for name in ("类型", "收件人", "状态", "原因"):
            replies.add_column(name, overflow="fold")
        for o in d["outbox"]:
            state = REPLY_STATES.get(o["state"], o["state"])
            replies.add_row(*map(_cell, (o["kind"], ", ".join(o["to"]), state, _why(o))))
        console.print(replies)
    history = Table(title="历史")
    for name in ("时间", "事件", "由", "内容"):
        history.add_column(name, overflow="fold")
    for e in d["events"]:
        detail = e["detail"]
        if "field" in detail:
            new = detail.get("new") or detail.get("text") or ""
            text = (
                f"{labels.get(detail['field'], detail['field'])}: {mask_phones_in_text(str(new))}"
            )
        elif e["kind"] == "status_changed":
            text = f"{status_label(detail.get('old'))} → {status_label(detail['new'])}"
        else:
            text = mask_phones_in_text(" ".join(f"{k}={v}" for k, v in detail.items()))
        history.add_row(*map(_cell, (e["at"], e["kind"], e["by"], text)))
    console.print(history)


def _why(reply: dict) -> str:
    """Why a reply failed, or a bounce's reason labelled as the remote system's words."""
    if reply["state"] == "bounced":
        return shown_reason(reply["last_error"])
    return reply["last_error"] or ""
