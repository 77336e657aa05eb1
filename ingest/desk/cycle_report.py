"""What a poll cycle reports: per mailbox, per email, and for the cycle's later steps."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.desk.remind import RemindReport
from replies.send_stage import DrainReport


@dataclass
class MailboxReport:
    name: str
    locked: bool = False  # another poll holds this mailbox
    counts: dict = field(default_factory=dict)  # outcome -> n, and "replies"
    error: str | None = None

    def add(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1


@dataclass
class CycleReport:
    mailboxes: list[MailboxReport] = field(default_factory=list)
    outbox: DrainReport | None = None
    outbox_locked: bool = False
    outbox_error: str | None = None
    remind: RemindReport | None = None
    remind_error: str | None = None
    notices: int = 0  # engineers' notices of operators' follow-ups queued (SPEC §13)
    notices_error: str | None = None

    @property
    def errors(self) -> list[str]:
        """What made the cycle fail, one line each: a mailbox, or an outbox that could not send
        at all (a reply refused on its own is counted, not a cycle error)."""
        errors = [f"mailbox {m.name}: {m.error}" for m in self.mailboxes if m.error]
        errors += [f"remind: {self.remind_error}"] if self.remind_error else []
        errors += [f"notices: {self.notices_error}"] if self.notices_error else []
        outbox_error = self.outbox_error or (self.outbox.error if self.outbox else None)
        return errors + ([f"outbox: {outbox_error}"] if outbox_error else [])


@dataclass
class MailOutcome:
    outcome: str
    reply: str | None
