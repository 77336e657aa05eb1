"""Limits that keep one hostile or huge email from stalling the desk: size, text, parts, time."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class TooSlow(BaseException):
    """Reading one email took longer than its time limit.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` on the way swallows it.
    """


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TooSlow in the block after `seconds` (SIGALRM: main thread only, else no limit).

    The signal also interrupts a regular expression stuck in backtracking.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(_signum, _frame):
        raise TooSlow(f"reading took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
