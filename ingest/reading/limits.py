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
def time_limit(seconds: float, error: type[TooSlow] = TooSlow, cpu: bool = False) -> Iterator[None]:
    """Raise `error` in the block after `seconds` (SIGALRM: main thread only, else no limit).

    The signal also interrupts a regular expression stuck in backtracking. With `cpu`, the
    seconds are the process's processor time (SIGPROF), so that a limit inside another (an
    image's inside its email's) keeps its own timer, and a busy machine does not fail work that
    is only waiting for a core.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    timer, signum = (
        (signal.ITIMER_PROF, signal.SIGPROF) if cpu else (signal.ITIMER_REAL, signal.SIGALRM)
    )
    kind = " of processor time" if cpu else ""

    def expire(_signum, _frame):
        raise error(f"reading took longer than {seconds:g} s{kind}")

    previous = signal.signal(signum, expire)
    signal.setitimer(timer, seconds)
    try:
        yield
    finally:
        signal.setitimer(timer, 0)
        signal.signal(signum, previous)
