"""The digest as a mail shows it (pure): subject, plain text and HTML from `collect`'s data,
with bars sized inline and a prefilled reply link per open ticket."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from urllib.parse import quote

from ingest.reading.display_words import REPLY_KIND_LABELS, span_zh
from ingest.reading.field_specs import field_specs
from ingest.rules.threads import subject_tag
from ingest.store.times import as_utc
from replies.digest_data import DISPLAY_TZ
from replies.local_time import local_minute
from replies.render import display_width, environment, pad

TEXT_BAR = 30  # characters of the longest plain-text bar
DAY_BAR = 12  # characters of the longest bar of the per-day chart in plain text
WEEKDAYS = "一二三四五六日"
COUNT_LABELS = {
    "new": "本期新建",
    "waiting_info": "等待运营商补充信息",
    "in_progress": "处理中",
    "on_hold": "暂搁置",
    "resolved": "本期解决",
}
REPLY_KINDS = REPLY_KIND_LABELS  # one set of words for every view (SPEC §13)
_STATUS = "状态(☑表示选定 )"
_ENGINEER = "售后(跟单)工程师"


def _bars(chart: list[dict]) -> list[dict]:
    top = max((row["count"] for row in chart), default=0)
    label_width = max((display_width(row["label"]) for row in chart), default=0)
    rows = []
    for row in chart:
        share = row["count"] / top if top else 0
        rows.append(
            {
                **row,
                "percent": max(2, round(share * 100)) if row["count"] else 0,
                "text_bar": "█" * max(1, round(share * TEXT_BAR)) if row["count"] else "",
                "text_label": pad(row["label"], label_width),
            }
        )
    return rows


def _day_bars(days: list[dict]) -> list[dict]:
    """Two bars a day (opened, resolved) on one scale."""
    top = max((max(d["opened"], d["resolved"]) for d in days), default=0)

    def size(n: int, full: int) -> int:
        return max(1, round(n / top * full)) if n and top else 0

    return [
        {
            **d,
            "label": f"{d['day']:%m-%d} 周{WEEKDAYS[d['day'].weekday()]}",
            "iso": d["day"].isoformat(),
            "opened_percent": max(2, size(d["opened"], 100)) if d["opened"] else 0,
            "resolved_percent": max(2, size(d["resolved"], 100)) if d["resolved"] else 0,
            "opened_text": pad("▇" * size(d["opened"], DAY_BAR), DAY_BAR),
            "resolved_text": pad("▇" * size(d["resolved"], DAY_BAR), DAY_BAR),
        }
        for d in days
    ]


def reply_body(status: str | None, engineer: str = "") -> str:
    """An engineer's reply as the seed writes it: an empty ---答复 block (what is written there
    goes to the operator, SPEC §13), a ---跟踪 block to fill in, the 状态 line with the ticket's
    status ticked (none while it waits for the operator), and the engineer."""
    options = list(field_specs().options.items())  # (text, stored value), the seed's order
    marked = " | ".join(f"☑ {text}" if value == status else text for text, value in options)
    return f"---答复\n\n\n---跟踪\n\n\n{_STATUS}: {marked}\n\n{_ENGINEER}: {engineer}\n"


def mailto(address: str, ticket: dict, engineer: str | None = None) -> str:
    """A link that opens a reply on the ticket's thread (RFC 6068): UTF-8 percent-encoded, line
    breaks as CRLF. `engineer` takes the ticket; else it keeps its engineer."""
    subject = f"{subject_tag(ticket['id'])} {ticket.get('subject') or ''}".strip()
    body = reply_body(ticket.get("status"), engineer or ticket.get("engineer") or "")
    encode = lambda text: quote(text, safe="")  # noqa: E731
    body = body.replace("\n", "\r\n")
    return f"mailto:{quote(address, safe='@')}?subject={encode(subject)}&body={encode(body)}"


def _zone(data: dict) -> tzinfo:
    """The zone the digest speaks in: `[desk] timezone` as collect() got it."""
    return data.get("tz") or DISPLAY_TZ


def _zone_name(tz: tzinfo) -> str:
    name = str(tz)
    return "北京时间" if name in ("Asia/Shanghai", "北京时间") else name


def _local(value: datetime, tz: tzinfo = DISPLAY_TZ) -> str:
    return local_minute(as_utc(value), tz)


def subject_of(data: dict, engineer: str | None = None) -> str:
    whose = f"（{engineer}）" if engineer else ""
    tz = _zone(data)
    start, end = _local(data["period"]["start"], tz), _local(data["period"]["end"], tz)
    return f"售后工单日报{whose} {start} 至 {end}"


def render(
    data: dict,
    template_dir: str | None = None,
    support_address: str = "",
    engineer: str | None = None,
) -> tuple[str, str, str]:
    """(subject, plain text, HTML) of the digest for `collect`'s data. With `support_address`
    each open ticket links to a prefilled reply; with `engineer`, the digest is theirs."""
    env = environment(template_dir)
    tz = _zone(data)
    count_width = max(display_width(label) for label in COUNT_LABELS.values())
    open_rows = [
        {
            "problem": "",  # data collected before the rows said the problem
            **t,
            "mailto": mailto(support_address, t, engineer) if support_address else "",
        }
        for t in data["open_tickets"]
    ]
    repeats = data.get("repeat_faults") or {"rows": [], "window": timedelta(days=30)}
    repeat_width = max((display_width(r["name"]) for r in repeats["rows"]), default=0)
    sla = (data.get("response") or {}).get("sla")
    view = {
        "subject": subject_of(data, engineer),
        "engineer": engineer or "",
        "mine": sum(1 for t in open_rows if t.get("mine")),
        "start": _local(data["period"]["start"], tz),
        "end": _local(data["period"]["end"], tz),
        "tz": _zone_name(tz),
        "counts": [
            {
                "key": k,
                "label": label,
                "text_label": pad(label, count_width),
                "count": data["counts"].get(k, 0),
            }
            for k, label in COUNT_LABELS.items()
        ],
        "open_tickets": open_rows,
        "open_total": data["open_total"],
        "open_hidden": max(0, data["open_total"] - len(open_rows)),
        "support_address": support_address,
        "stop_code_chart": _bars(data["stop_code_chart"]),
        "operator_chart": _bars(data["operator_chart"]),
        "repeat_faults": [
            {**r, "text_name": pad(r["name"], repeat_width)} for r in repeats["rows"]
        ],
        "repeat_window": span_zh(repeats["window"]),
        "repeat_threshold": repeats.get("threshold", 3),
        "response": data.get("response"),
        "over_sla_label": f"超过{span_zh(sla)}未回复" if sla else "",
        "response_width": 20,
        "daily": _day_bars(data.get("daily") or []),
        "bounced": [
            {**b, "kind_label": REPLY_KINDS.get(b["kind"], b["kind"]), "when": _local(b["at"], tz)}
            for b in data.get("bounced") or []
        ],
        "held": [
            {**h, "kind_label": REPLY_KINDS.get(h["kind"], h["kind"]), "when": _local(h["at"], tz)}
            for h in (data.get("held") or {}).get("rows", [])
        ],
        "held_total": (data.get("held") or {}).get("total", 0),
        "operator_mail": [
            {**w, "waited_label": span_zh(w["waited"]), "lines": w["text"].split("\n")}
            for w in (data.get("waiting_for_team") or {}).get("rows", [])
        ],
        "operator_mail_total": (data.get("waiting_for_team") or {}).get("total", 0),
    }
    text = env.get_template("digest.txt.j2").render(**view)
    html = env.get_template("digest.html.j2").render(**view)
    return view["subject"], text, html
