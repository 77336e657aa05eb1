"""Cut a stream of emails into batches bounded by count and by bytes (SPEC §9).

A batch is held in memory whole (fetched, read, stored in one transaction), so a count alone lets
memory grow with mail size: fifty 31.5 MB emails are 1.5 GB. A byte budget bounds it; one email
larger than the budget is a batch of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

BUDGET = 32 * 1024 * 1024  # bytes of raw mail in one batch


def cut(
    items: Iterable[T],
    size: Callable[[T], int],
    count: int,
    budget: int = BUDGET,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[list[T]]:
    """Consecutive lists of `items`: at most `count` of them and at most `budget` bytes by
    `size`, unless one item alone is larger. A stop() request ends them after the batch at hand:
    an item taken but not yet given out is left for the next run."""
    batch: list[T] = []
    total = 0
    for item in items:
        n = size(item)
        if batch and total + n > budget:
            yield batch
            batch, total = [], 0
            if stop():
                return
        batch.append(item)
        total += n
        if len(batch) >= count or total >= budget or stop():
            yield batch
            batch, total = [], 0
            if stop():
                return
    if batch:
        yield batch
