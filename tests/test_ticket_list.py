"""`gongdan tickets list` as a person and a tool use it on a long history: the open tickets first,
a page at a time with a line saying how many more, narrowed by status and time, streamed (SPEC
§11). On SQLite and a real PostgreSQL (its rows come through a server-side cursor)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from ingest.cli.main import cli
from tests.conftest import make_mail
from tests.test_stats import Desk, seed

EXTRA = 120  # open tickets after the seed's, one an hour from START
START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
NOW = "2026-11-30T09:00+00:00"  # START + 9 days: the last extra ticket is 4 days old
OPEN = {"waiting_info", "in_progress", "on_hold"}
SEED_OPEN = 6  # of the seed's 8 tickets; one is resolved, one (an autoreply) closed


@pytest.fixture
def history(engine, tmp_path, database_url):
    """The stats seed (open, resolved and closed tickets in November 2026), then EXTRA open ones;
    the config file of a desk on that database."""
    desk = Desk(engine)
    seed(desk)
    for n in range(EXTRA):
        at = START + timedelta(hours=n)
        desk.store(
            at.strftime("%Y-%m-%dT%H:%M"),
            make_mail(
                f"运营商：星星充电\n充电站名称：滨江{n}号站\n问题描述：扫码后无法启动\n",
                subject=f"充电故障 x{n}",
                message_id=f"<x{n}@xingxing.example.cn>",
            ),
        )
    config = tmp_path / "gongdan.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n', "utf-8")
    return config


def more(n: int) -> str:
    """The line under a page of tickets that says how many are left."""
    return f"还有 {n} 个工单未显示（--limit/--offset）"


def gongdan(config, *args, env=None):
    return CliRunner().invoke(cli, ["--config", str(config), *args, "--now", NOW], env=env)


def listed(config, *args) -> list[dict]:
    """Every ticket `tickets list --json ARGS` prints, one object per line."""
    result = gongdan(config, "tickets", "list", "--json", *args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def rows(output: str) -> tuple[list[list[str]], list[str]]:
    """A pipe's tab-separated ticket lines (after the header), and the lines that are not."""
    header, *lines = output.splitlines()
    assert header.startswith("#\t状态")
    return [x.split("\t") for x in lines if "\t" in x], [x for x in lines if "\t" not in x]


def test_by_default_the_oldest_fifty_open_tickets_and_how_many_more(history):
    every = listed(history, "--all")
    open_ids = [t["id"] for t in every if t["status"] in OPEN]
    assert {t["status"] for t in every} - OPEN == {"resolved", "closed"}  # the seed's
    result = gongdan(history, "tickets", "list")
    assert result.exit_code == 0, result.output
    shown, notes = rows(result.output)
    assert [int(cells[0]) for cells in shown] == open_ids[:50]
    assert notes == [more(len(open_ids) - 50)]
    assert "已解决" not in result.output and "已关闭" not in result.output


def test_a_pipe_prints_the_limit_and_the_rest_as_a_count(history):
    # The seed's open tickets first, then the extra ones: 100 shown, the rest counted.
    open_count = len(listed(history))
    result = gongdan(history, "tickets", "list", "--limit", "100")
    shown, notes = rows(result.output)
    assert len(shown) == 100 and all(len(cells) == 11 for cells in shown)
    assert notes == [more(open_count - 100)]
    assert open_count == SEED_OPEN + EXTRA


def test_offset_pages_on_where_the_last_page_stopped(history):
    open_ids = [t["id"] for t in listed(history)]
    second = gongdan(history, "tickets", "list", "--offset", "50", "--limit", "50")
    shown, notes = rows(second.output)
    assert [int(cells[0]) for cells in shown] == open_ids[50:100]
    assert notes == [more(len(open_ids) - 100)]
    last = gongdan(history, "tickets", "list", "--offset", "100")
    shown, notes = rows(last.output)
    assert [int(cells[0]) for cells in shown] == open_ids[100:] and notes == []
    beyond = gongdan(history, "tickets", "list", "--offset", "10000")
    assert rows(beyond.output) == ([], [])
    assert [t["id"] for t in listed(history, "--offset", "3", "--limit", "2")] == open_ids[3:5]


def test_all_and_status(history):
    every = listed(history, "--all")
    assert len(every) == 8 + EXTRA and [t["id"] for t in every] == sorted(t["id"] for t in every)
    done = listed(history, "--status", "resolved", "--status", "closed")
    assert {t["status"] for t in done} == {"resolved", "closed"}
    assert [t["id"] for t in done] == [t["id"] for t in every if t["status"] not in OPEN]
    (resolved,) = listed(history, "--status", "resolved")
    assert resolved["status"] == "resolved"
    # Positive control: the table for people says the same in Chinese.
    shown, _ = rows(gongdan(history, "tickets", "list", "--status", "resolved").output)
    assert [(int(c[0]), c[1]) for c in shown] == [(resolved["id"], "已解决")]


def test_since_takes_a_span_back_from_now_or_a_date(history):
    # The extra tickets were created hourly from 11-21 09:00 UTC; NOW is 11-30 09:00 UTC.
    # From 11-22 09:00: the first 24 extra are older; the seed's of 11-25 and 12-03 are not.
    recent = listed(history, "--since", "8d")
    assert len(recent) == EXTRA - 24 + 2
    assert all(t["created_at"] >= "2026-11-22T09:00" for t in recent)
    assert [t["id"] for t in listed(history, "--since", "2026-11-22T09:00")] == [
        t["id"] for t in recent
    ]
    assert [t["created_at"][:10] for t in listed(history, "--since", "1d")] == ["2026-12-03"]
    refused = gongdan(history, "tickets", "list", "--since", "1m")
    assert refused.exit_code != 0 and "1min" in refused.output and "1mo" in refused.output


def test_json_is_every_ticket_line_by_line_and_a_limit_notes_the_rest_apart(history):
    lines = gongdan(history, "tickets", "list", "--json").stdout.splitlines()
    assert len(lines) == SEED_OPEN + EXTRA  # no default limit for a tool: every open ticket
    assert {json.loads(line)["status"] for line in lines} <= OPEN
    limited = gongdan(history, "tickets", "list", "--json", "--limit", "5")
    assert [json.loads(line)["id"] for line in limited.stdout.splitlines()] == [
        json.loads(line)["id"] for line in lines[:5]
    ]
    assert limited.stderr.strip() == more(SEED_OPEN + EXTRA - 5)


def test_a_terminal_gets_a_table_of_the_limit_only(history):
    result = gongdan(history, "tickets", "list", "--limit", "5", env={"TTY_COMPATIBLE": "1"})
    assert result.exit_code == 0, result.output
    assert "5 个工单" in result.output and "\t" not in result.output
    assert result.output.count("星星充电") <= 5 + 1  # the rows shown, at most (cells may fold)
    assert result.output.rstrip().endswith(more(SEED_OPEN + EXTRA - 5))
