"""Batches of a poll: one transaction per fetched batch, the next batch read in a second process,
and one email that fails (a bug of ours, a bad byte) never costing the rest of its batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from ingest.cli.main import cli
from ingest.config import Config
from ingest.sources.read_ahead import ReadAhead
from tests.conftest import make_mail
from tests.desk import COMPLETE, INCOMPLETE, Desk, imap_desk


def maildir_desk(
    tmp_path: Path, database_url: str, count: int, parallel: bool = True, extra: str = ""
) -> Path:
    """A desk on a local Maildir holding `count` tickets from different operators; its config
    path."""
    desk = Desk(
        tmp_path, database_url, extra=f"[desk]\nparallel = {str(parallel).lower()}\n{extra}"
    )
    for n in range(count):
        raw = make_mail(
            COMPLETE if n % 3 == 0 else INCOMPLETE,
            subject=f"故障{n}",
            message_id=f"<b{n}@xingxing.example.cn>",
            sender=f"ops{n}@xingxing.example.cn",
        )
        desk.deliver(raw, name=f"{1700000000 + n}.M{n}.test")
    return desk.config


def gongdan(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def stored(config: Path) -> list[tuple]:
    """What a user sees of every ticket: subject, status, missing fields, and its replies."""
    import json

    rows = []
    for line in gongdan(config, "tickets", "list", "--json").output.splitlines():
        ticket = json.loads(line)
        shown = json.loads(gongdan(config, "tickets", "show", str(ticket["id"]), "--json").output)
        rows.append(
            (
                ticket["subject"],
                ticket["status"],
                tuple(ticket["missing"]),
                tuple(sorted(o["kind"] for o in shown["outbox"])),
            )
        )
    return sorted(rows)


def test_helper_processes_store_and_send_exactly_what_one_process_does(tmp_path, database_url):
    count = 130  # three batches: the second process reads two of them
    with_reader = maildir_desk(
        tmp_path / "a", database_url if "sqlite" in database_url else database_url, count
    )
    result = gongdan(with_reader, "poll")
    assert result.exit_code == 0, result.output
    assert f"{count} new ticket" in result.output
    assert len(list((tmp_path / "a" / "outbox" / "new").iterdir())) == count
    assert len(list((tmp_path / "a" / "inbox" / "cur").iterdir())) == count
    if "sqlite" not in database_url:
        return  # one PostgreSQL database per test: the comparison below runs on SQLite
    inline = maildir_desk(tmp_path / "b", f"sqlite:///{tmp_path / 'b.db'}", count, parallel=False)
    assert gongdan(inline, "poll").exit_code == 0
    assert stored(with_reader) == stored(inline)


def test_one_email_failing_costs_nothing_else_of_its_batch(tmp_path, database_url):
    # A deployment's template with a bug that only one ticket's reply runs into.
    templates = tmp_path / "templates"
    templates.mkdir()
    shipped = (
        Path(__file__).resolve().parents[1] / "replies" / "templates" / "request_info.txt.j2"
    ).read_text("utf-8")
    (templates / "request_info.txt.j2").write_text(
        '{% if "故障7" in subject %}{{ no_such_value }}{% endif %}' + shipped, "utf-8"
    )
    config = maildir_desk(tmp_path, database_url, 60, extra=f'template_dir = "{templates}"')
    result = gongdan(config, "poll")
    assert result.exit_code == 0, result.output
    assert "60 new ticket" in result.output
    rows = stored(config)
    assert len(rows) == 60
    unanswered = [subject for subject, _, _, replies in rows if not replies]
    assert unanswered == ["故障7"]
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 59
    assert len(list((tmp_path / "inbox" / "cur").iterdir())) == 60
    assert not list((tmp_path / "inbox" / "new").iterdir())
    # The failed one is flagged for a person, and a second poll does not answer anything twice.
    assert gongdan(config, "poll").exit_code == 0
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 59


def test_the_reader_process_has_the_next_batches_before_the_poll_needs_the_first():
    """While the poll stores a batch, the reader process reads the next two: they were fetched and
    handed over before the first batch's readings are asked for."""
    from ingest.sources.read_ahead import AHEAD

    raws = [make_mail(INCOMPLETE, message_id=f"<a{n}@x.example.cn>") for n in range(5)]
    fetched = []

    def batches():
        for n, raw in enumerate(raws):
            fetched.append(n)
            yield n, [raw]

    with ReadAhead(Config().desk, parallel=True) as reader:
        order = []
        for n, reads in reader.in_order(batches()):
            order.append((n, list(fetched)))
            assert reads()[0].reading.mail.message_id == f"<a{n}@x.example.cn>"
    assert AHEAD == 2
    assert order[0] == (0, [0, 1, 2])  # the first batch given out with two more at the reader
    assert [n for n, _ in order] == [0, 1, 2, 3, 4]


def test_reader_process_killed_falls_back_to_reading_here():
    raws = [
        make_mail(INCOMPLETE, subject=f"故障{n}", message_id=f"<r{n}@x.example.cn>")
        for n in range(5)
    ]
    with ReadAhead(Config().desk, parallel=True) as reader:
        assert reader.submit(raws[:2])()[0].reading.fields["operator"] == "星星充电"
        for pid in list(reader._pool._processes):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        readings = reader.submit(raws)()
    assert [r.reading.mail.subject for r in readings] == [f"故障{n}" for n in range(5)]


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the reader's parent-death signal is Linux's"
)
def test_poll_killed_takes_its_reader_process_along(tmp_path):
    config = maildir_desk(tmp_path, f"sqlite:///{tmp_path / 'gongdan.db'}", 400)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ingest", "--config", str(config), "poll"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: list[int] = []
    deadline = time.monotonic() + 30
    while not children and time.monotonic() < deadline and proc.poll() is None:
        children = _children_of(proc.pid)
        time.sleep(0.02)
    assert children, "the poll never started a reader process"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 5
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in children)
    # Nothing holds the poll's lock any more: the next poll takes the mailbox and finishes it.
    result = gongdan(config, "poll")
    assert result.exit_code == 0 and "another gongdan poll" not in result.output, result.output
    assert len(list((tmp_path / "inbox" / "cur").iterdir())) == 400
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 400


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# --- Replies of a large poll (read ahead by a helper process, sent by the poll's sending stage) -


def _no_sending_state_beside(tmp_path: Path) -> None:
    """SPEC §9: no file beside the database holds sending state (only the locks are there)."""
    assert [p.name for p in tmp_path.glob(".gongdan.db.*") if not p.name.endswith(".lock")] == []


def test_large_poll_sends_each_reply_once(tmp_path, dovecot, dovecot_user, smtp_sink, database_url):
    desk = imap_desk(
        tmp_path,
        dovecot,
        dovecot_user,
        smtp_sink,
        database_url,
        extra="[desk]\ndaily_reply_limit = 1000",
    )
    count = 160
    for n in range(count):
        desk.deliver(
            make_mail(
                COMPLETE if n % 3 == 0 else INCOMPLETE,
                subject=f"故障{n}",
                message_id=f"<s{n}@xingxing.example.cn>",
                sender=f"ops{n}@xingxing.example.cn",
            )
        )
    result = desk.poll()
    assert f"{count} new ticket" in result.output and f"{count} sent" in result.output, (
        result.output
    )
    replies = desk.replies()
    assert sorted(r["In-Reply-To"] for r in replies) == sorted(
        f"<s{n}@xingxing.example.cn>" for n in range(count)
    )
    states = {o["state"] for t in desk.tickets() for o in desk.show(t["id"])["outbox"]}
    assert states == {"sent"}
    _no_sending_state_beside(tmp_path)
    assert "0 sent" in desk.poll().output or "outbox" not in desk.poll().output
    assert len(desk.replies()) == count


def test_poll_killed_while_sending_resends_at_most_the_replies_in_hand(
    tmp_path, dovecot, dovecot_user, smtp_sink, database_url
):
    desk = imap_desk(
        tmp_path,
        dovecot,
        dovecot_user,
        smtp_sink,
        database_url,
        extra="[desk]\ndaily_reply_limit = 1000",
    )
    count = 200
    for n in range(count):
        desk.deliver(
            make_mail(
                INCOMPLETE,
                subject=f"故障{n}",
                message_id=f"<x{n}@xingxing.example.cn>",
                sender=f"ops{n}@xingxing.example.cn",
            )
        )
    proc = desk.poll_process()
    deadline = time.monotonic() + 60
    while len(smtp_sink.messages) < 20 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    sent_before = len(smtp_sink.messages)
    assert 0 < sent_before < count, "the kill did not come while the replies were going out"
    desk.poll()
    desk.poll()
    replies = desk.replies()
    by_email: dict[str, set[str]] = {}
    for reply in replies:
        by_email.setdefault(reply["In-Reply-To"], set()).add(reply["Message-ID"])
    assert all(len(ids) == 1 for ids in by_email.values()), (
        "an operator got two different replies to one email"
    )
    # Every operator got their reply (at least once, SPEC §9); a reply in hand at the kill went out
    # again, the same message: at most one per SMTP connection (4).
    assert set(by_email) == {f"<x{n}@xingxing.example.cn>" for n in range(count)}
    assert len(replies) - count <= 4
    assert len(desk.tickets()) == count
    assert {o["state"] for t in desk.tickets() for o in desk.show(t["id"])["outbox"]} == {"sent"}
    _no_sending_state_beside(tmp_path)


def test_no_helper_process_to_be_had_the_poll_does_it_all_itself(tmp_path, monkeypatch):
    # A process limit reached (fork fails): a fault no real server here produces, so os.fork is
    # made to fail. The poll reads, stores and sends everything itself.
    def no_fork():
        raise BlockingIOError(11, "Resource temporarily unavailable")

    config = maildir_desk(tmp_path, f"sqlite:///{tmp_path / 'gongdan.db'}", 120)
    monkeypatch.setattr(os, "fork", no_fork)
    result = gongdan(config, "poll")
    assert result.exit_code == 0, result.output
    assert "120 new ticket" in result.output and "120 replies" in result.output
    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 120
    assert len(list((tmp_path / "inbox" / "cur").iterdir())) == 120


def test_import_with_a_reader_process_stores_what_one_process_stores(tmp_path):
    count = 260  # three batches of 100
    source = (
        maildir_desk(tmp_path / "source", f"sqlite:///{tmp_path / 'unused.db'}", count).parent
        / "inbox"
    )
    results = []
    for name, parallel in (("a", True), ("b", False)):
        config = maildir_desk(
            tmp_path / name, f"sqlite:///{tmp_path / name}.db", 0, parallel=parallel
        )
        result = gongdan(config, "import", str(source))
        assert result.exit_code == 0, result.output
        results.append(stored(config))
    assert len(results[0]) == count
    assert results[0] == results[1]
