"""Load gongdan.toml (SPEC §10) into plain settings objects, with every default in one place."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ingest.completeness import DEFAULT_BILLING_WORDS, DEFAULT_REQUIRED, Rules

DEFAULT_PATH = "gongdan.toml"
MAX_CONNECTIONS = 10  # SMTP connections, each with its own database connection (the pool holds 15)


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which key and why."""


@dataclass
class MailboxSettings:
    name: str = "support"
    kind: str = "maildir"  # "imap" or "maildir"
    path: str = "demo/inbox"
    host: str = ""
    port: int = 993
    security: str = "tls"
    username: str = ""
    password_env: str = ""
    password_file: str = ""
    folder: str = "INBOX"
    processed_folder: str = ""
    error_folder: str = ""
    ca_file: str = ""


@dataclass
class OutgoingSettings:
    kind: str = "maildir"  # "smtp" or "maildir"
    path: str = "outbox"
    host: str = ""
    port: int = 465
    security: str = "tls"
    username: str = ""
    password_env: str = ""
    password_file: str = ""
    from_address: str = "support@localhost"
    ca_file: str = ""
    connections: int = 4  # SMTP connections sending the outbox in parallel


@dataclass
class Engineer:
    name: str
    address: str


@dataclass
class DeskSettings:
    operator_domains: list[str] = field(default_factory=list)
    daily_reply_limit: int = 10
    default_vendor: str = "sinexcel"
    trusted_authserv_id: str = ""
    stopcode_dir: str = ""  # extra vendor tables (*.toml), beside the shipped ones
    template_dir: str = ""  # reply templates that override the shipped ones
    max_message_bytes: int = 25 * 1024 * 1024  # larger mail: stored whole, only its start is read
    max_text_chars: int = 200_000  # text read for fields; the raw bytes are still stored whole
    max_parts: int = 200  # MIME parts looked at (attachments beyond are not listed)
    seconds_per_message: float = 20.0  # reading one email longer than this: stored, flagged
    parallel: bool = True  # large polls: read the next batch and send replies in helper processes
    required_simple: list[str] = field(default_factory=lambda: list(DEFAULT_REQUIRED["simple"]))
    required_none: list[str] = field(default_factory=lambda: list(DEFAULT_REQUIRED["none"]))
    required_detailed: list[str] = field(default_factory=lambda: list(DEFAULT_REQUIRED["detailed"]))
    billing_words: list[str] = field(default_factory=lambda: list(DEFAULT_BILLING_WORDS))
    own_addresses: list[str] = field(default_factory=list)

    @property
    def rules(self) -> Rules:
        return Rules(
            required={"simple": tuple(self.required_simple), "none": tuple(self.required_none),
                      "detailed": tuple(self.required_detailed)},
            billing_words=tuple(self.billing_words),
        )


@dataclass
class Config:
    database_url: str = "sqlite:///gongdan.db"
    mailboxes: list[MailboxSettings] = field(default_factory=lambda: [MailboxSettings()])
    outgoing: OutgoingSettings = field(default_factory=OutgoingSettings)
    desk: DeskSettings = field(default_factory=DeskSettings)
    engineers: list[Engineer] = field(default_factory=list)
    digest_recipients: list[str] = field(default_factory=list)
    path: str = ""


def _build(cls, table: dict, where: str):
    known = {f for f in cls.__dataclass_fields__}
    unknown = set(table) - known
    if "password" in unknown:
        raise ConfigError(f"{where}: inline `password` is not allowed; use password_env or password_file")
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    return cls(**table)


def parse_config(text: str, path: str = "") -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path or 'config'}: not valid TOML: {exc}") from exc
    config = Config(path=path)
    base = Path(path).resolve().parent if path else Path.cwd()
    config.database_url = data.get("database", {}).get("url", config.database_url)
    if "mailbox" in data:
        config.mailboxes = [_build(MailboxSettings, m, f"[[mailbox]] #{i + 1}") for i, m in enumerate(data["mailbox"])]
    if "outgoing" in data:
        config.outgoing = _build(OutgoingSettings, data["outgoing"], "[outgoing]")
        connections = config.outgoing.connections
        if type(connections) is not int or not 1 <= connections <= MAX_CONNECTIONS:
            raise ConfigError(f"[outgoing]: connections must be a whole number from 1 to {MAX_CONNECTIONS}, "
                              f"not {connections!r}")
    if "desk" in data:
        config.desk = _build(DeskSettings, data["desk"], "[desk]")
    config.engineers = [_build(Engineer, e, f"[[engineer]] #{i + 1}") for i, e in enumerate(data.get("engineer", []))]
    config.digest_recipients = list(data.get("digest", {}).get("recipients", []))
    # Relative paths are relative to the config file, so cron can run from any folder.
    for box in config.mailboxes:
        if box.kind == "maildir":
            box.path = str(base / box.path)
    if config.outgoing.kind == "maildir":
        config.outgoing.path = str(base / config.outgoing.path)
    for name in ("stopcode_dir", "template_dir"):
        if getattr(config.desk, name):
            setattr(config.desk, name, str(base / getattr(config.desk, name)))
    if config.database_url.startswith("sqlite:///") and not config.database_url.startswith("sqlite:////"):
        rel = config.database_url[len("sqlite:///"):]
        if rel and rel != ":memory:":
            config.database_url = "sqlite:///" + str(base / rel)
    _set_own_addresses(config)
    return config


def _set_own_addresses(config: Config) -> None:
    """Mail from these is ours, and never answered."""
    config.desk.own_addresses = sorted({config.outgoing.from_address.lower(), *(
        b.username.lower() for b in config.mailboxes if "@" in b.username)} - {""})


def load_config(path: str | None = None, required: bool = False) -> Config:
    """The config at `path`, $GONGDAN_CONFIG or ./gongdan.toml; defaults when absent and optional."""
    chosen = path or os.environ.get("GONGDAN_CONFIG") or DEFAULT_PATH
    file = Path(chosen)
    if not file.exists():
        if required or path or os.environ.get("GONGDAN_CONFIG"):
            raise ConfigError(f"config file {chosen} not found")
        config = Config()
        _set_own_addresses(config)
        return config
    try:
        text = file.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {chosen}: {exc.strerror}") from exc
    return parse_config(text, str(file))


def read_secret(password_env: str, password_file: str, what: str) -> str:
    """A password from the environment variable or file named in the config."""
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise ConfigError(f"{what}: environment variable {password_env} is not set")
        return value
    if password_file:
        try:
            return Path(password_file).read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read password_file {password_file}: {exc.strerror}") from exc
    return ""
