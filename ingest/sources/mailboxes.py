"""A configured mailbox as a source: open it, fetch its new mail in bounded batches, mark what
was taken."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from ingest.config import ConfigError, MailboxSettings, read_secret
from ingest.sources import batches
from ingest.sources.maildir import MaildirSource

if TYPE_CHECKING:
    from ingest.sources.imap import ImapSource

    Source = ImapSource | MaildirSource


def open_source(box: MailboxSettings) -> Source:
    if box.kind == "imap":
        # Here, not at the top: a Maildir desk's poll loads no IMAP client.
        from ingest.sources.imap import ImapSource

        # Its errors are said as "mailbox NAME: ..." by the cycle: the prefix is not repeated.
        return ImapSource(box, read_secret(box.password_env, box.password_file, "IMAP password"))
    if box.kind == "maildir":
        return MaildirSource(box)
    raise ConfigError(f"unknown kind {box.kind!r} (imap or maildir)")


def fetch_batches(
    source: Source, keys: list, stop: Callable[[], bool], count: int, budget: int
) -> Iterator[tuple[list[tuple[object, bytes]], list[bytes]]]:
    """(batch, its raw emails): lists of (key, raw) pairs, up to `count` emails or `budget` bytes
    of them, so memory stays flat whatever the mail sizes; a stop request ends them after the
    batch at hand."""
    for batch in batches.cut(source.fetch(keys), lambda item: len(item[1]), count, budget, stop):
        yield batch, [raw for _, raw in batch]
        batch = None  # held by the caller while it needs it, not here while the next is fetched


def mark(source: Source, processed: list, unreadable: list) -> None:
    """After the commit, flag or move what was stored (one command each). A crash before this
    only leaves stored mail unflagged; selection is by UID, and unmoved leftovers move next
    cycle."""
    source.mark_processed(processed)
    source.mark_unreadable(unreadable)
