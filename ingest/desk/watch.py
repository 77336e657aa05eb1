"""Waiting between polls: IMAP IDLE wakes the loop when mail arrives, else the interval passes."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from ingest.config import ConfigError, MailboxSettings
from ingest.sources.errors import SourceDisconnected, SourceError
from ingest.sources.mailboxes import open_source

log = logging.getLogger("gongdan.watch")

RENEW = 300.0  # seconds in one IDLE; servers may end it after 29 minutes (RFC 2177)
RETRY_FIRST, RETRY_MAX = 1.0, 60.0  # reconnect back-off after a lost IDLE connection


class Watcher:
    """One IDLE connection per IMAP mailbox, each on its own daemon thread, setting one shared
    event.

    Maildir mailboxes, and IMAP servers without IDLE, are covered by the interval alone; so is an
    IMAP mailbox while its IDLE connection is down. The poll cycle keeps its own connections.
    """

    def __init__(
        self,
        mailboxes: Sequence[MailboxSettings],
        renew: float = RENEW,
        retry_first: float = RETRY_FIRST,
        retry_max: float = RETRY_MAX,
    ):
        self.mailboxes = [box for box in mailboxes if box.kind == "imap"]
        self.renew, self.retry_first, self.retry_max = renew, retry_first, retry_max
        self._news = threading.Event()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started = False

    def start(self) -> Watcher:
        if self._started:
            return self
        self._started = True
        for box in self.mailboxes:
            thread = threading.Thread(
                target=self._watch, args=(box,), name=f"idle-{box.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def wait(self, interval: float, stop: Callable[[], bool] = lambda: False) -> bool:
        """Return when new mail is announced (True), the interval has passed, or stop() is true.

        The first wait starts the listeners, so that they connect after the first cycle and never
        race its connection (both would create a missing processed folder, and one would fail).
        """
        self.start()
        deadline = time.monotonic() + interval
        while not stop():
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if self._news.wait(min(0.5, left)):
                # Cleared before the cycle runs, so mail announced during that cycle wakes the
                # next wait.
                self._news.clear()
                return True
        return False

    def close(self, timeout: float = 3.0) -> None:
        """Stop the threads; each leaves IDLE within a second. A thread stuck connecting is left
        behind."""
        self._closing.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def _watch(self, box: MailboxSettings) -> None:
        delay, lost = self.retry_first, False
        while not self._closing.is_set():
            source = None
            try:
                source = open_source(box)
                source.connect()
                if not source.supports_idle():
                    log.info(
                        "mailbox %s: %s offers no IDLE; new mail is looked for at the interval",
                        box.name,
                        source.where,
                    )
                    return
                log.info(
                    "mailbox %s: %s for new mail with IMAP IDLE",
                    box.name,
                    "listening again" if lost else "listening",
                )
                # Mail may have come while nobody listened (before the first IDLE, or while cut
                # off).
                self._news.set()
                delay, lost = self.retry_first, False
                while not self._closing.is_set():
                    if source.idle_wait(self.renew, stop=self._closing.is_set):
                        log.debug("mailbox %s: new mail announced", box.name)
                        self._news.set()
            except SourceDisconnected as exc:
                lost = True
                log.warning(
                    "mailbox %s: IDLE connection lost (%s); reconnecting in %.0f s, "
                    "looking for mail at the interval meanwhile",
                    box.name,
                    exc,
                    delay,
                )
            except (SourceError, ConfigError) as exc:
                lost = True
                log.warning(
                    "mailbox %s: cannot listen for new mail (%s); retrying in %.0f s",
                    box.name,
                    exc,
                    delay,
                )
            except Exception:
                # A bug here must not end the listening for good; the interval still covers the
                # mailbox.
                lost = True
                log.exception(
                    "mailbox %s: IDLE listener failed; retrying in %.0f s", box.name, delay
                )
            finally:
                if source is not None:
                    source.close()
            if self._closing.wait(delay):
                return
            delay = min(delay * 2, self.retry_max)
