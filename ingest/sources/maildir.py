"""A local Maildir as the support mailbox: new mail waits in new/, processed mail moves to cur/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from ingest.config import MailboxSettings
from ingest.sources.errors import SourceError


class MaildirSource:
    """The embedded default source. A message's key is its file name in new/."""

    def __init__(self, settings: MailboxSettings):
        self.path = Path(settings.path)
        self.uidvalidity = None

    def connect(self) -> None:
        """A Maildir that is not there is a mistyped path, not an empty mailbox: say so rather
        than create it and report "no new mail" for ever (`gongdan demo` makes its own)."""
        if not (self.path / "new").is_dir():
            state = "has no new/ folder" if self.path.is_dir() else "does not exist"
            raise SourceError(
                f"Maildir {self.path} {state}; check [[mailbox]] path (a Maildir holds new/, "
                "cur/ and tmp/)"
            )
        try:
            for sub in ("cur", "tmp"):
                (self.path / sub).mkdir(exist_ok=True)
        except OSError as exc:
            raise SourceError(f"Maildir {self.path}: cannot create {sub}/: {exc.strerror}") from exc

    def new_keys(self) -> list[str]:
        # Maildir names start with the delivery time, so name order is arrival order.
        return sorted(n for n in os.listdir(self.path / "new") if not n.startswith("."))

    def fetch(self, keys: list[str]) -> Iterator[tuple[str, bytes]]:
        for key in keys:
            try:
                yield key, (self.path / "new" / key).read_bytes()
            except FileNotFoundError:
                continue  # taken by another reader meanwhile

    def mark_processed(self, keys: str | list[str]) -> None:
        for key in [keys] if isinstance(keys, str) else keys:
            target = self.path / "cur" / (key if ":2," in key else f"{key}:2,S")
            try:
                os.replace(self.path / "new" / key, target)
            except FileNotFoundError:
                pass

    mark_unreadable = mark_processed

    def close(self) -> None:
        pass
