"""Log lines of the long-running commands: text for people, or one JSON object per line."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

import click


class JsonLines(logging.Formatter):
    """One JSON object per line for log collectors; the per-message line adds its fields as keys."""

    KEYS = ("mailbox", "uid", "message_id", "ticket", "outcome", "action")

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((key, getattr(record, key)) for key in self.KEYS if hasattr(record, key))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(level: str = "INFO", log_format: str = "text") -> None:
    # Progress goes to stdout, so that on failure stderr holds just the one line that matters.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        JsonLines()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    root = logging.getLogger("gongdan")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def json_record(name: str, message: str) -> str:
    """`message` as the JSON line an INFO record of logger `name` would be."""
    record = logging.makeLogRecord(
        {"name": name, "levelname": "INFO", "levelno": logging.INFO, "msg": message}
    )
    return JsonLines().format(record)


# `--log-level` of the commands that log their progress (on stdout; see setup_logging).
log_level_option = click.option(
    "--log-level",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]),
    help="Show log lines of this level and above (on stdout).",
)
