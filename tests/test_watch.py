"""`gongdan poll --loop` waiting with IMAP IDLE on a real Dovecot; `--log-format json`."""

from __future__ import annotations

import json
import signal
import threading
import time

import pytest

from ingest.config import load_config
from ingest.desk.watch import Watcher
from ingest.sources import imap as imap_source
from tests.conftest import make_mail
from tests.conftest_servers import running
from tests.desk import COMPLETE, INCOMPLETE, imap_desk
from tests.servers import Dovecot


@pytest.fixture(scope="module")
def own_dovecot():
    """A private Dovecot, because one test restarts it under the worker."""
    yield from running(Dovecot, "gd-watch-")


@pytest.fixture
def desk(tmp_path, own_dovecot, smtp_sink):
    name = f"watch{len(own_dovecot.users) + 1}"
    own_dovecot.add_user(name, "pw-" + name)
    return imap_desk(
        tmp_path, own_dovecot, (name, "pw-" + name), smtp_sink, f"sqlite:///{tmp_path}/gongdan.db"
    )


class Output:
    """The lines a child process prints, read as they come (so the pipe never fills)."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for raw in stream:
            with self._cond:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._cond.notify_all()

    def wait_for(self, text: str, count: int = 1, after: str = "", timeout: float = 15) -> None:
        """Wait for count lines holding text (after the last line holding `after`, if given)."""

        def seen() -> bool:
            lines = self.lines
            if after:
                marks = [n for n, line in enumerate(lines) if after in line]
                lines = lines[marks[-1] + 1 :] if marks else []
            return sum(text in line for line in lines) >= count

        with self._cond:
            if not self._cond.wait_for(seen, timeout):
                raise AssertionError(
                    f"no {count} line(s) with {text!r} in:\n" + "\n".join(self.lines)
                )


def test_idle_answers_new_mail_within_seconds_and_survives_a_dovecot_restart(desk):
    worker = desk.poll_process("--loop", "--interval", "60")  # only IDLE can answer within seconds
    out = Output(worker.stdout)
    try:
        out.wait_for("listening for new mail with IMAP IDLE")
        # The startup cycle, and the catch-up cycle for mail that came before IDLE began.
        out.wait_for("outbox:", count=2)

        sent = time.monotonic()
        desk.dovecot.deliver(
            desk.user[0], make_mail(COMPLETE, message_id="<i1@xingxing.example.cn>")
        )
        desk.smtp.wait_for(1, timeout=5)
        first = time.monotonic() - sent

        desk.dovecot.restart()
        sent = time.monotonic()
        desk.dovecot.deliver(
            desk.user[0],
            make_mail(INCOMPLETE, subject="重启之后", message_id="<i2@xingxing.example.cn>"),
        )
        desk.smtp.wait_for(2, timeout=15)
        second = time.monotonic() - sent

        # Listening again, the worker still answers within seconds.
        out.wait_for(
            "outbox:", after="listening again for new mail with IMAP IDLE"
        )  # its catch-up cycle
        sent = time.monotonic()
        desk.dovecot.deliver(
            desk.user[0],
            make_mail(COMPLETE, subject="又来了", message_id="<i3@xingxing.example.cn>"),
        )
        desk.smtp.wait_for(3, timeout=5)
        third = time.monotonic() - sent

        worker.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        assert worker.wait(timeout=5) == 0, "\n".join(out.lines)
        stopped = time.monotonic() - stopping
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    print(
        f"reply after {first:.2f} s; after the restart {second:.2f} s, then {third:.2f} s; "
        f"SIGTERM to exit {stopped:.2f} s"
    )
    assert [r["In-Reply-To"] for r in desk.replies()] == [
        f"<i{n}@xingxing.example.cn>" for n in (1, 2, 3)
    ]
    out.wait_for("IDLE connection lost")
    assert len(desk.tickets()) == 3


def test_worker_with_idle_threads_takes_a_large_batch_with_its_helper_processes(desk):
    # A burst of mail under a --loop worker: its cycle forks the reader and the sending process
    # while the IDLE listener threads run; every email is answered once and SIGTERM still stops it.
    worker = desk.poll_process("--loop", "--interval", "60")
    out = Output(worker.stdout)
    try:
        out.wait_for("listening for new mail with IMAP IDLE")
        out.wait_for("outbox:", count=2)
        count = 150
        for n in range(count):  # set aside first, then moved into the inbox with one command
            desk.dovecot.append(
                desk.user[0],
                make_mail(
                    INCOMPLETE,
                    subject=f"故障{n}",
                    message_id=f"<b{n}@xingxing.example.cn>",
                    sender=f"ops{n}@xingxing.example.cn",
                ),
                folder="Arriving",
            )
        client = desk.dovecot.client(desk.user[0])
        try:
            client.select_folder("Arriving")
            client.move(client.search("ALL"), "INBOX")
        finally:
            client.logout()
        desk.smtp.wait_for(count, timeout=60)
        out.wait_for("in a helper process")  # at least one cycle took more than a batch at once
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=10) == 0, "\n".join(out.lines)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    answered = [r["In-Reply-To"] for r in desk.replies()]
    assert sorted(answered) == sorted(f"<b{n}@xingxing.example.cn>" for n in range(count))
    assert len(desk.tickets()) == count


def test_renewed_idle_still_hears_new_mail_and_stops_promptly(desk, monkeypatch):
    calls = []
    original = imap_source.ImapSource.idle_wait

    def counted(self, timeout, stop=lambda: False):
        calls.append(timeout)
        return original(self, timeout, stop)

    monkeypatch.setattr(imap_source.ImapSource, "idle_wait", counted)

    watcher = Watcher(load_config(str(desk.config)).mailboxes, renew=1.0).start()
    try:
        assert watcher.wait(10)  # announced once connected: mail may have come before IDLE began
        began = time.monotonic()
        assert not watcher.wait(3.5)  # renewing IDLE is no news
        assert time.monotonic() - began >= 3.4 and len(calls) >= 3
        sent = time.monotonic()
        desk.dovecot.deliver(desk.user[0], make_mail(COMPLETE))
        assert watcher.wait(5) and time.monotonic() - sent < 3
        stopped = []
        threading.Timer(0.3, stopped.append, [True]).start()
        began = time.monotonic()
        assert not watcher.wait(30, stop=lambda: bool(stopped)) and time.monotonic() - began < 1.5
    finally:
        began = time.monotonic()
        watcher.close()
    assert time.monotonic() - began < 2.5
    assert not any(t.is_alive() for t in threading.enumerate() if t.name.startswith("idle-"))


def test_maildir_only_waits_the_interval(tmp_path):
    config = tmp_path / "gongdan.toml"
    config.write_text(f'[[mailbox]]\nname = "local"\nkind = "maildir"\npath = "{tmp_path}/inbox"\n')
    with Watcher(load_config(str(config)).mailboxes) as watcher:
        began = time.monotonic()
        assert not watcher.wait(0.7)
        assert 0.65 <= time.monotonic() - began < 1.5
        assert not [t for t in threading.enumerate() if t.name == "idle-local"]


def test_log_format_json_has_the_message_fields_and_no_secrets(desk):
    desk.deliver(
        make_mail(
            COMPLETE + "用户电话 13900001111，问题描述补充：屏幕闪烁\n",
            message_id="<j1@xingxing.example.cn>",
        )
    )
    desk.deliver(b"\x00\x01 garbage that is no email")
    proc = desk.poll_process("--log-format", "json")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err.decode()
    lines = [json.loads(line) for line in out.decode().splitlines()]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    handled = [line for line in lines if "uid" in line]
    assert [(h["mailbox"], h["uid"]) for h in handled] == [("support", 1), ("support", 2)]
    good, garbage = handled
    assert good["message_id"] == "<j1@xingxing.example.cn>" and good["action"] == "ack"
    assert good["outcome"] == "new_ticket" and isinstance(good["ticket"], int)
    assert garbage["message_id"] is None and {"ticket", "outcome", "action"} <= set(garbage)
    assert lines[-1]["logger"] == "gongdan.cycle" and "1 replies" in lines[-1]["message"]
    logged = (out + err).decode()
    for secret in (desk.user[1], "13512348382", "13900001111", "扫码后无法启动", "屏幕闪烁"):
        assert secret not in logged
