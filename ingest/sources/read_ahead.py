"""Read the next batches of mail in a second process while this one stores the current batch.

Reading an email (MIME, charsets, fields, stop codes) is pure CPU and touches no database, while
storing must stay in the one process that holds the transaction. On a machine with more than one
core the two overlap: a forked reader process reads batches k+1 and k+2 (AHEAD) while the poll
stores batch k. Small polls, one-core machines and `[desk] parallel = false` read inline.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor

from ingest.config import DeskSettings
from ingest.reading.ticket import ReadResult, read_mail

log = logging.getLogger("gongdan.poll")

_PR_SET_PDEATHSIG = 1
READERS = (
    1  # reader processes (more only pay off with cores to spare: the poll is CPU-bound on two)
)
# Batches handed to the reader before the poll needs the first: when the reader finishes one, the
# next is already waiting (with one, it waited while the poll fetched: 0.1-0.2 s of a 1,000-mail
# poll). Each costs its batch's raw mail in memory (a batch is cut at batches.BUDGET).
AHEAD = 2


def become_helper(poll_pid: int) -> None:
    """In a process forked by the poll: die with the poll (a crash or SIGKILL of the poll must not
    leave it holding the poll's inherited files, such as its lock), and leave signals to the
    poll."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the helper still ends when the poll closes its pipe
    if os.getppid() != poll_pid:
        os._exit(1)  # the poll died before the signal was asked for
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the poll decides


def read_batch(raws: list[bytes], desk: DeskSettings) -> list[ReadResult]:
    """Read a batch of raw emails, here or in the reader process."""
    return [read_mail(raw, desk) for raw in raws]


def worth_it(messages: int, batch: int) -> bool:
    """A second process pays off for more than one batch, on more than one core."""
    return messages > batch and (os.cpu_count() or 1) > 1


class ReadAhead:
    """submit(raws) now, call what it returns later for the readings (TicketReading or error
    text)."""

    def __init__(self, desk: DeskSettings, parallel: bool):
        self.desk = desk
        self._pool: ProcessPoolExecutor | None = None
        self.ahead = 0  # batches submitted before the first is needed
        if parallel and "fork" in multiprocessing.get_all_start_methods():
            self.ahead = AHEAD
            self._pool = ProcessPoolExecutor(
                max_workers=READERS,
                mp_context=multiprocessing.get_context("fork"),
                initializer=become_helper,
                initargs=(os.getpid(),),
            )

    def submit(self, raws: list[bytes]) -> Callable[[], list]:
        if self._pool is None:
            return lambda: self._read_here(raws)
        try:
            future = self._pool.submit(read_batch, raws, self.desk)
        except (RuntimeError, OSError) as exc:  # the reader process is gone, or cannot be started
            self._give_up(exc)
            return lambda: self._read_here(raws)

        def result() -> list:
            try:
                return future.result()
            except Exception as exc:  # the reader died (killed, out of memory): read here instead
                self._give_up(exc)
                return self._read_here(raws)

        return result

    def in_order(
        self, batches: Iterable[tuple[object, list[bytes]]]
    ) -> Iterator[tuple[object, Callable[[], list]]]:
        """(batch, its readings to come) for each (batch, its raw emails), in order, the next
        batches handed to the reader before the one at hand is given out."""
        pending: deque = deque()
        for batch, raws in batches:
            pending.append((batch, self.submit(raws)))
            # Let go of this batch before the next is fetched: the caller holds it while it needs
            # it.
            batch = raws = None
            if len(pending) > self.ahead:
                yield pending.popleft()
        while pending:
            yield pending.popleft()

    def _read_here(self, raws: list[bytes]) -> list[ReadResult]:
        return read_batch(raws, self.desk)

    def _give_up(self, exc: BaseException) -> None:
        log.warning(
            "the reader process failed (%s: %s); reading in the poll process",
            type(exc).__name__,
            exc,
        )
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ReadAhead:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
