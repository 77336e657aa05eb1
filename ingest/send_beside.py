"""The outbox sent by a second process while the poll stores mail.

On a large poll the replies then go out while later mail is still being read and stored, instead
of all after the last email. A forked process takes the outbox lock and drains the queue, waking
each time the poll has committed a batch, until the poll says it is done. On SQLite, whose one
write lock the poll holds for each batch, that process writes nothing to the database while the
poll runs: what it sends is recorded in the outbox journal (replies.journal) and applied at its
end. On PostgreSQL it records in the database as any drain does. Whatever it leaves (it died, or
another run held the outbox) is sent by the poll's own drain afterwards.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable

from ingest import db
from ingest.config import Config
from ingest.lock import exclusive
from ingest.read_ahead import become_helper
from replies.outbox import DrainReport

log = logging.getLogger("gongdan.outbox")

Send = Callable[..., DrainReport]  # send_outbox(config, engine, more=...)


_NEWS, _DONE = b"\0", b"\1"


def _wait_for_news(fd: int) -> bool:
    """Block until the poll committed a batch (True) or is done (False: it said so, or is gone)."""
    data = os.read(fd, 4096)
    return bool(data) and _DONE not in data


def _sender(config: Config, send: Send, news: int, poll_end: int, report, poll_pid: int) -> None:
    """The sending process."""
    become_helper(poll_pid)
    os.close(poll_end)  # else the end of the poll's notices would never be seen here
    engine = db.make_engine(config.database_url)
    try:
        with exclusive(engine, "outbox") as got:
            if not got:
                report.send(("locked", None))
                return
            report.send(("done", send(config, engine, more=lambda: _wait_for_news(news))))
    except BaseException as exc:  # the poll's own drain takes over
        report.send(("error", f"{type(exc).__name__}: {db.short_error(exc)}"))
    finally:
        engine.dispose()


class SendBeside:
    """Started by the poll once it has a large batch of mail; told of each batch it commits."""

    def __init__(self, config: Config, send: Send):
        self.config, self.send = config, send
        self._process = None
        self._notices = -1
        self._report = None

    def start(self) -> None:
        if self._process is not None or "fork" not in multiprocessing.get_all_start_methods():
            return
        context = multiprocessing.get_context("fork")
        opened = []
        try:
            news, notices = os.pipe()
            opened += [news, notices]
            report, report_end = context.Pipe(duplex=False)
            opened += [report, report_end]
            process = context.Process(target=_sender, name="gongdan-send", daemon=True,
                                      args=(self.config, self.send, news, notices, report_end, os.getpid()))
            process.start()
        except OSError as exc:  # no process or pipe to be had (limits): the poll sends afterwards
            log.warning("cannot start the sending process (%s); replies go out after the mail is stored", exc)
            for end in opened:
                end.close() if hasattr(end, "close") else os.close(end)
            return
        os.close(news)
        report_end.close()
        os.set_blocking(notices, False)
        self._process, self._notices, self._report = process, notices, report

    def committed(self) -> None:
        """The poll committed a batch: new replies may be due."""
        if self._process is not None:
            try:
                os.write(self._notices, _NEWS)
            except (BlockingIOError, BrokenPipeError):
                pass  # news already waiting, or the process is gone (its rest is sent afterwards)

    def finish(self) -> DrainReport | None:
        """The poll is done: wait for the process to send the rest; what it sent, if it could."""
        if self._process is None:
            return None
        os.set_blocking(self._notices, True)
        try:
            os.write(self._notices, _DONE)  # (a helper forked later may hold this pipe open too)
        except BrokenPipeError:
            pass
        os.close(self._notices)
        try:
            kind, result = self._report.recv()
        except (EOFError, OSError):
            kind, result = "error", None
        self._process.join()
        if result is None:
            result = f"the sending process ended unexpectedly (exit status {self._process.exitcode})"
        self._report.close()
        self._process = None
        if kind == "error":
            log.warning("sending beside the poll failed (%s); the poll sends the rest itself", result)
        return result if kind == "done" else None
