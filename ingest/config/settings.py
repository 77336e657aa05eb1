"""The settings as plain dataclasses, every default in one place: what the code uses (Config)
and the file's own shape (ConfigFile). Cheap to import and to build in tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ingest.reading.addresses import domain_of
from ingest.reading.settings import ReadingSettings

MAX_CONNECTIONS = 10  # SMTP connections, each with its own database connection (the pool holds 15)
DEFAULT_ZONE = "Asia/Shanghai"


@lru_cache(maxsize=8)
def zone(name: str = DEFAULT_ZONE) -> tzinfo:
    """The zone called `name` (IANA, such as Asia/Shanghai); ValueError when there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)"
        ) from exc


Security = Literal["tls", "starttls", "plain"]


def _bounded(default, ge=None, le=None, gt=None):
    """A setting with a range, which the schema checks."""
    limits = {k: v for k, v in (("ge", ge), ("le", le), ("gt", gt)) if v is not None}
    return field(default=default, metadata=limits)


@dataclass
class MailboxSettings:
    name: str = "support"
    kind: Literal["imap", "maildir"] = "maildir"
    path: str = "demo/inbox"
    host: str = ""
    port: int = _bounded(993, ge=1, le=65535)
    security: Security = "tls"
    username: str = ""
    password_env: str = ""
    password_file: str = ""
    folder: str = "INBOX"
    processed_folder: str = ""
    error_folder: str = ""
    ca_file: str = ""


@dataclass
class OutgoingSettings:
    kind: Literal["smtp", "maildir"] = "maildir"
    path: str = "outbox"
    host: str = ""
    port: int = _bounded(465, ge=1, le=65535)
    security: Security = "tls"
    username: str = ""
    password_env: str = ""
    password_file: str = ""
    from_address: str = "support@localhost"
    ca_file: str = ""
    # SMTP connections sending the outbox in parallel
    connections: int = _bounded(4, ge=1, le=MAX_CONNECTIONS)

    @property
    def message_domain(self) -> str:
        """The domain our Message-IDs name: the support address's, canonical (else localhost)."""
        return domain_of(self.from_address) or "localhost"


@dataclass
class Engineer:
    name: str
    address: str


@dataclass
class DeskSettings(ReadingSettings):
    """[desk]: what reading an email depends on (ReadingSettings), and the desk's own keys."""

    operator_domains: list[str] = field(default_factory=list)
    daily_reply_limit: int = _bounded(40, ge=0)
    trusted_authserv_id: str = ""
    template_dir: str = ""  # reply templates that override the shipped ones
    parallel: bool = True  # large polls: read the next batch in a helper process
    # A ticket waiting for operator information: one reminder after remind_after, then on hold
    # with a notice after hold_after (both since the request_info; SPEC §12).
    remind_after: str = "2d"
    hold_after: str = "7d"
    # An operator's follow-up on a resolved or on-hold ticket reopens it within this span of its
    # last change, and opens a new ticket naming it after (SPEC §13).
    reopen_within: str = "30d"
    # An operator's follow-up that says something: the ticket's engineer (else the digest's
    # recipients) gets one notice a poll cycle (SPEC §13).
    notify_engineers: bool = True
    timezone: str = DEFAULT_ZONE  # the zone people read times in (views, digest, stats)

    @property
    def tz(self) -> tzinfo:
        """The `timezone` itself; ValueError for a name no zone has (the config check says so)."""
        return zone(self.timezone)


@dataclass
class Config:
    database_url: str = "sqlite:///gongdan.db"
    database: DatabaseTable = field(default_factory=lambda: DatabaseTable())
    mailboxes: list[MailboxSettings] = field(default_factory=lambda: [MailboxSettings()])
    outgoing: OutgoingSettings = field(default_factory=OutgoingSettings)
    desk: DeskSettings = field(default_factory=DeskSettings)
    engineers: list[Engineer] = field(default_factory=list)
    digest_recipients: list[str] = field(default_factory=list)
    digest: DigestTable = field(default_factory=lambda: DigestTable())
    path: str = ""

    @property
    def engineer_mailboxes(self) -> dict[str, str]:
        """Each engineer's name by their canonical address: one mailbox however it is spelled
        (SPEC §6b)."""
        from ingest.reading.addresses import canonical_address

        return {canonical_address(e.address): e.name for e in self.engineers}


# The file's own shape: its tables, as the admin writes them.
@dataclass
class DatabaseTable:
    url: str = "sqlite:///gongdan.db"
    # PostgreSQL's password, put into the URL when connecting (never in the URL text itself)
    password_env: str = ""
    password_file: str = ""


@dataclass
class DigestTable:
    recipients: list[str] = field(default_factory=list)
    repeat_threshold: int = _bounded(3, ge=2)  # tickets that make a pile, station or code repeat
    repeat_window: str = "30d"  # how far back repeat faults are counted
    engineer_sla: str = "24h"  # a ticket waiting longer for an engineer is highlighted
    per_engineer: bool = False  # each engineer also gets a digest with their tickets first


@dataclass
class ConfigFile:
    database: DatabaseTable = field(default_factory=DatabaseTable)
    mailbox: list[MailboxSettings] = field(default_factory=lambda: [MailboxSettings()])
    outgoing: OutgoingSettings = field(default_factory=OutgoingSettings)
    desk: DeskSettings = field(default_factory=DeskSettings)
    engineer: list[Engineer] = field(default_factory=list)
    digest: DigestTable = field(default_factory=DigestTable)
