"""Running the desk's cycles: one stop flag that SIGTERM and Ctrl-C set, and one worker loop that
outlives a failing cycle (`gongdan poll --loop`, `gongdan send --loop`)."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

log = logging.getLogger("gongdan.runner")


class StopFlag:
    """Set by SIGTERM or SIGINT once `listen()` was called; callable as stop()."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def listen(self) -> StopFlag:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: self._event.set())
        return self

    def __call__(self) -> bool:
        return self._event.is_set()

    def sleep(self, seconds: float) -> bool:
        """Wait up to `seconds`; True when stopped meanwhile."""
        return self._event.wait(seconds)


def loop(
    cycle: Callable[[], object],
    interval: float,
    stop: StopFlag,
    wait: Callable[[float], object] | None = None,
    name: str = "cycle",
) -> None:
    """Run `cycle()` until `stop()`, then `wait(interval)` (default: sleep, woken by the stop).
    A cycle that raises is logged and tried again after the interval: a worker outlives one bad
    cycle (a database that went away, a bug on odd data)."""
    wait = wait or stop.sleep
    while not stop():
        try:
            cycle()
        except Exception:
            log.exception("%s failed; trying again after the interval", name)
        if stop():
            break
        wait(interval)
