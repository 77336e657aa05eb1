"""Tickets as terminal tables, for people (ingest.store.ticket_list gives them as plain data)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ingest.reading.clean_text import clean_text
from ingest.reading.display_words import (
    REPLY_STATE_LABELS,
    age_zh,
    event_label,
    event_words,
    flag_label,
    held_label,
    invalid_label,
    reply_kind_label,
    status_label,
    template_label,
    vendor_label,
)
from ingest.reading.field_specs import field_specs
from ingest.reading.phones import mask_phone, mask_phones_in_text
from ingest.reading.stopcodes import vendor_names
from ingest.rules.bounces import shown_reason
from replies.local_time import local_minute

REPLY_STATES = REPLY_STATE_LABELS  # an outbox row's state as `tickets show` says it


# Whom a ticket waits on (SPEC §13), as the list's 等待 column says it.
WAITING = {"team": "工程师", "operator": "运营商"}
# Who wrote a message of the conversation.
WHO = {
    "operator": "运营商",
    "colleague": "同事",
    "engineer": "工程师",
    "automatic": "自动邮件",
    "outside": "线程外",
    "desk": "客服台",
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


LIST_TITLES = (
    "#",
    "状态",
    "运营商",
    "桩站",
    "订单号",
    "缺少",
    "停止代号",
    "工程师",
    "等待",
    "创建",
    "已等待",
)
NO_WRAP = {"#", "订单号", "创建"}  # long numbers and times read whole, never folded


def list_cells(
    r: dict, now: datetime, tz: tzinfo, labels: dict[str, str] | None = None
) -> list[str]:
    """A ticket's row as one-line texts, in LIST_TITLES' order (`labels`: the fields' labels by
    key, from the catalog unless given)."""
    labels = labels if labels is not None else {s.key: s.label for s in field_specs().fields}
    cells = (
        r["id"],
        status_label(r["status"]),
        r["operator"] or r["operator_address"],
        r["station"],
        r["order_no"],
        "、".join(labels.get(k, k) for k in r["missing"]),
        " ".join(str(c["code"]) for c in r["stop_codes"]),
        r["engineer"],
        WAITING.get(r.get("waiting_on"), "—"),
        local_minute(r["created_at"], tz),
        age(r["created_at"], now),
    )
    return [" ".join(clean_text("" if v is None else str(v)).split()) for v in cells]


def render_list(
    console: Console, rows: Iterable[dict], now: datetime, tz: tzinfo, terminal: bool = True
) -> int:
    """The tickets as a table on a terminal, times in `tz` and ages as of `now`; in a pipe one
    tab-separated line per ticket, printed as it is read, never wrapped or cut. How many were
    shown. Only the table holds its rows: the caller limits what goes to a terminal."""
    labels = {s.key: s.label for s in field_specs().fields}
    if not terminal:
        shown = 0
        click.echo("\t".join(LIST_TITLES))
        for r in rows:
            click.echo("\t".join(list_cells(r, now, tz, labels)))
            shown += 1
        return shown
    rows = list(rows)
    table = Table(title=f"{len(rows)} 个工单", show_lines=False)
    for name in LIST_TITLES:
        if name in NO_WRAP:
            table.add_column(name, no_wrap=True, overflow="ignore")
        else:
            table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(*(Text(c) for c in list_cells(r, now, tz, labels)))
    console.print(table)
    return len(rows)


def who(message: dict, operator_address: str, engineers: set[str]) -> str:
    """Who wrote a message of the conversation: a key of WHO."""
    if message["direction"] != "in":
        return "desk"
    flags = set(message["flags"])
    if message["auto_submitted"]:
        return "automatic"
    if flags & {"outside_thread", "foreign_ticket_tag", "forged_engineer"}:
        return "outside"
    if message["from"].lower() in engineers:
        return "engineer"
    return "operator" if message["from"].lower() == operator_address.lower() else "colleague"


def _size(n: int) -> str:
    return (
        f"{n} B"
        if n < 1024
        else f"{n / 1024:.0f} KB"
        if n < 1024 * 1024
        else f"{n / 1048576:.1f} MB"
    )


def render_conversation(console: Console, d: dict, engineers: set[str], tz: tzinfo) -> None:
    """The whole conversation in order: time, who, the new text and the attachments, numbered
    across the ticket as `gongdan tickets attachment N K` takes them."""
    console.print(_line(f"对话（{len(d['messages'])} 封）"))
    number = 0
    for m in d["messages"]:
        label = WHO[who(m, d["operator_address"], engineers)]
        console.print(_line(f"— {local_minute(m['date'], tz)}  {label}  {m['from']}"))
        for line in (m.get("text") or "（无正文）").split("\n"):
            console.print(_line(f"  {line}"))
        for a in m.get("attachments", []):
            number += 1
            console.print(_line(f"  附件{number}: {a['name']}（{a['type']}，{_size(a['size'])}）"))


def render_show(console: Console, d: dict, tz: tzinfo, engineers: set[str] = frozenset()) -> None:
    """One ticket for people: labels in Chinese, times in `tz` to the minute."""
    labels = {s.key: s.label for s in field_specs().fields}
    console.print(f"[bold]工单#{d['id']}[/bold]  {_line(d['subject'])}")
    status = status_label(d["status"])
    related = " ".join(f"#{n}" for n in d.get("related") or [])
    console.print(
        _line(
            f"状态: {status}   等待: {WAITING.get(d.get('waiting_on'), '—')}"
            + (f"   相关工单: {related}" if related else "")
            + f"   工程师: {d['engineer'] or '-'}"
            f"   模板: {template_label(d['template'])}   运营商邮箱: {d['operator_address']}"
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
        console.print(_line(f"无效: {labels.get(key, key)}（{invalid_label(reason)}）"))
    names = vendor_names()
    for code in d["stop_codes"]:
        meaning = code["meaning"] or "无代号表"  # a brand without a table (SPEC §5)
        vendor = vendor_label(code["vendor"], names)
        console.print(_line(f"停止代号: {code['code']} {meaning} ({vendor})"))
    thread = Table(title="邮件往来")
    for name in ("时间", "方向", "发件人", "主题", "标记"):
        thread.add_column(name, **_column(name))
    for m in d["messages"]:
        thread.add_row(
            *map(
                _cell,
                (
                    local_minute(m["date"], tz),
                    "收" if m["direction"] == "in" else "发",
                    m["from"],
                    m["subject"],
                    "、".join(flag_label(f) for f in m["flags"]),
                ),
            )
        )
    console.print(thread)
    render_conversation(console, d, engineers, tz)
    if d["outbox"]:
        replies = Table(title="回复")
        for name in ("类型", "收件人", "状态", "原因"):
            replies.add_column(name, overflow="fold")
        for o in d["outbox"]:
            state = REPLY_STATES.get(o["state"], o["state"])
            replies.add_row(
                *map(_cell, (reply_kind_label(o["kind"]), ", ".join(o["to"]), state, _why(o)))
            )
        console.print(replies)
    history = Table(title="历史")
    for name in ("时间", "事件", "由", "内容"):
        history.add_column(name, **_column(name))
    field_label = lambda key: labels.get(key, key)  # noqa: E731
    for e in d["events"]:
        text = mask_phones_in_text(event_words(e["kind"], e["detail"], field_label))
        when = local_minute(e["at"], tz)
        history.add_row(*map(_cell, (when, event_label(e["kind"]), e["by"], text)))
    console.print(history)


def _column(name: str) -> dict:
    """A time or a long number reads whole on one line; other cells fold."""
    return {"no_wrap": True} if name in ("时间", *NO_WRAP) else {"overflow": "fold"}


def _why(reply: dict) -> str:
    """Why a reply failed, or a bounce's reason labelled as the remote system's words."""
    if reply["state"] == "bounced":
        return shown_reason(reply["last_error"])
    if reply["state"] == "held":
        return held_label(reply["last_error"])
    return reply["last_error"] or ""
