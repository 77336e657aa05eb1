"""`gongdan status --format prometheus`: the health report as Prometheus text exposition, for
node_exporter's textfile collector (one scrape = one file written by cron)."""

from __future__ import annotations

from datetime import datetime

# name: (help text, type)
METRICS = {
    "gongdan_status": (
        "Health of the desk as gongdan status exits: 0 healthy, 1 degraded, 2 config or "
        "database unreadable.",
        "gauge",
    ),
    "gongdan_mailbox_last_success_timestamp_seconds": (
        "Unix time of the mailbox's last successful poll cycle (0: never).",
        "gauge",
    ),
    "gongdan_outbox_replies": (
        "Replies in the outbox: queued (to send), failed (waiting for a retry or given up), "
        "held (withheld by the daily reply limit until a person releases them).",
        "gauge",
    ),
    "gongdan_outbox_oldest_failure_age_seconds": (
        "Seconds since the oldest failed reply was queued (0: none failed).",
        "gauge",
    ),
}


def _label(value: str) -> str:
    """A label value as the exposition format quotes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _seconds(iso: str | None) -> int:
    return int(datetime.fromisoformat(iso).timestamp()) if iso else 0


def _family(name: str, samples: list[tuple[str, int]]) -> list[str]:
    text, kind = METRICS[name]
    return [f"# HELP {name} {text}", f"# TYPE {name} {kind}"] + [
        f"{name}{labels} {int(value)}" for labels, value in samples
    ]


def exposition(report: dict | None, exit_code: int, now: datetime) -> str:
    """The report of `gongdan status` (None when the config or database cannot be read) as
    metric families, ages as of `now`."""
    lines = _family("gongdan_status", [("", exit_code)])
    if report is not None:
        lines += _family(
            "gongdan_mailbox_last_success_timestamp_seconds",
            [
                (f'{{mailbox="{_label(box["name"])}"}}', _seconds(box["last_success"]))
                for box in report["mailboxes"]
            ],
        )
        outbox = report["outbox"]
        lines += _family(
            "gongdan_outbox_replies",
            [(f'{{state="{state}"}}', outbox[state]) for state in ("queued", "failed", "held")],
        )
        oldest = outbox["oldest_failure"]
        age = max(0, int(now.timestamp()) - _seconds(oldest)) if oldest else 0
        lines += _family("gongdan_outbox_oldest_failure_age_seconds", [("", age)])
    return "\n".join(lines) + "\n"
