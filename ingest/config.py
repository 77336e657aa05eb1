"""Load gongdan.toml (SPEC §9, §10): one schema, every default in one place, checked whole."""

from __future__ import annotations

import functools
import ipaddress
import os
import re
import tomllib
import typing
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from datetime import timedelta
from pathlib import Path
from typing import Literal

from ingest.reading.completeness import DEFAULT_BILLING_WORDS, DEFAULT_REQUIRED, Rules

# The settings below are plain dataclasses, cheap to import and to build in tests; the checking
# is done by pydantic models made from them on first load, so `gongdan --help` never pays for it.

DEFAULT_PATH = "gongdan.toml"
MAX_CONNECTIONS = 10  # SMTP connections, each with its own database connection (the pool holds 15)
HOW_TO = (
    "try `gongdan demo`, or set up with `cp config.example.toml gongdan.toml` and edit it; "
    "then pass --config FILE or set $GONGDAN_CONFIG, or run from the folder that holds it"
)
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DATABASES = ("sqlite", "postgresql")

Security = Literal["tls", "starttls", "plain"]


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which key and why."""


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


@dataclass
class Engineer:
    name: str
    address: str


@dataclass
class DeskSettings:
    operator_domains: list[str] = field(default_factory=list)
    daily_reply_limit: int = _bounded(10, ge=0)
    default_vendor: str = "sinexcel"
    trusted_authserv_id: str = ""
    stopcode_dir: str = ""  # extra vendor tables (*.toml), beside the shipped ones
    template_dir: str = ""  # reply templates that override the shipped ones
    # larger mail: stored whole, only its start is read
    max_message_bytes: int = _bounded(25 * 1024 * 1024, gt=0)
    max_text_chars: int = _bounded(200_000, gt=0)  # text read for fields; raw bytes stored whole
    max_parts: int = _bounded(200, gt=0)  # MIME parts looked at (attachments beyond: not listed)
    seconds_per_message: float = _bounded(20.0, gt=0)  # reading longer: stored, flagged
    parallel: bool = True  # large polls: read the next batch in a helper process
    required_simple: list[str] = field(default_factory=lambda: list(DEFAULT_REQUIRED["simple"]))
    required_none: list[str] = field(default_factory=lambda: list(DEFAULT_REQUIRED["none"]))
    required_detailed: list[str] = field(default_factory=lambda: list(DEFAULT_REQUIRED["detailed"]))
    billing_words: list[str] = field(default_factory=lambda: list(DEFAULT_BILLING_WORDS))
    # A ticket waiting for operator information: one reminder after remind_after, then on hold
    # with a notice after hold_after (both since the request_info; SPEC §12).
    remind_after: str = "2d"
    hold_after: str = "7d"
    # derived from [outgoing] and the mailboxes, never written in the file
    own_addresses: list[str] = field(default_factory=list, metadata={"derived": True})

    @property
    def rules(self) -> Rules:
        return Rules(
            required={
                "simple": tuple(self.required_simple),
                "none": tuple(self.required_none),
                "detailed": tuple(self.required_detailed),
            },
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
    digest: DigestTable = field(default_factory=lambda: DigestTable())
    path: str = ""


# The file's own shape: its tables, as the admin writes them.
@dataclass
class DatabaseTable:
    url: str = "sqlite:///gongdan.db"


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


def schema_keys(cls=ConfigFile, prefix: str = "") -> list[str]:
    """Every key a file may hold, as `table.key` (for the documentation test)."""
    keys = []
    for f in _settable(cls):
        hint = _item(_hints(cls)[f.name])
        if is_dataclass(hint):
            keys += schema_keys(hint, f"{f.name}.")
        else:
            keys.append(prefix + f.name)
    return keys


def parse_config(text: str, path: str = "") -> Config:
    where = path or "config"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    problem, file = _validate(data)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    config = _resolve(file, path)
    problem = _check(config)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return config


def _resolve(file: ConfigFile, path: str) -> Config:
    """The settings the code uses, from the file's tables."""
    config = Config(
        database_url=file.database.url,
        mailboxes=file.mailbox,
        outgoing=file.outgoing,
        desk=file.desk,
        engineers=file.engineer,
        digest_recipients=file.digest.recipients,
        digest=file.digest,
        path=path,
    )
    # Relative paths are relative to the config file, so cron can run from any folder.
    base = Path(path).resolve().parent if path else Path.cwd()
    for box in config.mailboxes:
        if box.kind == "maildir":
            box.path = str(base / box.path)
    if config.outgoing.kind == "maildir":
        config.outgoing.path = str(base / config.outgoing.path)
    for name in ("stopcode_dir", "template_dir"):
        if getattr(config.desk, name):
            setattr(config.desk, name, str(base / getattr(config.desk, name)))
    url = config.database_url
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url[len("sqlite:///") :]
        if rel and rel != ":memory:":
            config.database_url = "sqlite:///" + str(base / rel)
    _set_own_addresses(config)
    return config


def _set_own_addresses(config: Config) -> None:
    """Mail from these is ours, and never answered."""
    config.desk.own_addresses = sorted(
        {
            config.outgoing.from_address.lower(),
            *(b.username.lower() for b in config.mailboxes if "@" in b.username),
        }
        - {""}
    )


def load_config(path: str | None = None, required: bool = True) -> Config:
    """The config at `path`, $GONGDAN_CONFIG or ./gongdan.toml.

    Without any file, only a caller that needs no mailbox or database (`parse`, `decode`) may
    pass required=False and get the defaults: nothing else runs on defaults it was not given.
    """
    named = path or os.environ.get("GONGDAN_CONFIG")
    file = Path(named or DEFAULT_PATH)
    if not file.exists():
        if named:
            raise ConfigError(f"config file {named} not found; {HOW_TO}")
        if required:
            raise ConfigError(
                f"no config file (no --config, no $GONGDAN_CONFIG, no ./{DEFAULT_PATH}); {HOW_TO}"
            )
        config = Config()
        _set_own_addresses(config)
        return config
    try:
        text = file.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read config {file}: {reason}") from None
    return parse_config(text, str(file))


def read_secret(password_env: str, password_file: str, what: str) -> str:
    """A password from the environment variable or file named in the config."""
    if password_env:
        if not VARIABLE_NAME.fullmatch(password_env):  # the secret itself, pasted in: never shown
            raise ConfigError(
                f"{what}: password_env must name an environment variable "
                "that holds the password, not the password itself"
            )
        value = os.environ.get(password_env)
        if value is None:
            raise ConfigError(f"{what}: environment variable {password_env} is not set")
        return value
    if password_file:
        try:
            return Path(password_file).read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"{what}: cannot read password_file {password_file}: {exc.strerror}"
            ) from None
    return ""


# --- the schema ---------------------------------------------------------------------------


def _validate(data: dict) -> tuple[str, ConfigFile | None]:
    """The first problem of the file as one line naming its key ("" if none), and the file."""
    from pydantic import ValidationError

    try:
        model = _schema(ConfigFile).model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        others = len(errors) - 1
        more = f" (and {others} more problem{'s' * (others > 1)})" if others else ""
        return _describe(errors[0]) + more, None
    return "", _build(ConfigFile, model.model_dump(exclude_unset=True))


@functools.cache
def _schema(cls):
    """A strict pydantic model of the dataclass `cls`: no unknown keys, no type coercion."""
    from pydantic import ConfigDict, Field, create_model

    def swap(hint):
        if is_dataclass(hint):
            return _schema(hint)
        if typing.get_origin(hint) is list:
            return list[swap(typing.get_args(hint)[0])]
        return hint

    specs = {}
    for f in _settable(cls):
        required = f.default is MISSING and f.default_factory is MISSING
        # An omitted key takes the dataclass default when the file is built (exclude_unset).
        specs[f.name] = (swap(_hints(cls)[f.name]), Field(... if required else None, **f.metadata))
    return create_model(
        f"{cls.__name__}Schema", __config__=ConfigDict(strict=True, extra="forbid"), **specs
    )


def _build(cls, values: dict):
    """The dataclass `cls` from the keys the file set; the others keep their defaults."""
    kwargs = {}
    for name, value in values.items():
        hint = _hints(cls)[name]
        inner = _item(hint)
        if is_dataclass(hint):
            value = _build(hint, value)
        elif is_dataclass(inner):
            value = [_build(inner, v) for v in value]
        kwargs[name] = value
    return cls(**kwargs)


@functools.cache
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _settable(cls) -> list:
    return [f for f in fields(cls) if not f.metadata.get("derived")]


def _item(hint):
    return typing.get_args(hint)[0] if typing.get_origin(hint) is list else hint


def _describe(error: dict) -> str:
    """One pydantic error as the admin reads it: where, which key, what it must be."""
    loc, kind = error["loc"], error["type"]
    head, key, cls, hint, meta = _locate(loc)
    name = key or ""
    if kind == "extra_forbidden":
        return _unknown(head, name, cls, error["input"])
    if kind == "missing":
        return f"{head}: {name} is required"
    value = error["input"]
    if not name and typing.get_origin(hint) is list and isinstance(value, dict):
        return f"{head} must be a list of tables: write {head}, not {head[1:-1]}"
    shown = "" if "password" in name or name == "url" else f", not {_show(value)}"
    what = f"{head}: {name}" if name else head
    return f"{what} must be {_expected(hint, meta)}{shown}"


def _locate(loc: tuple):
    """(where, key, table class, hint, limits) for a pydantic error location."""
    cls, head, key, hint, meta = ConfigFile, "", None, ConfigFile, {}
    parts = list(loc)
    while parts:
        part = parts.pop(0)
        if isinstance(part, int):
            if is_dataclass(_item(hint)) and not key:
                head += f" #{part + 1}"
                hint = _item(hint)
            else:
                key = f"{key} item {part + 1}"
                hint, meta = _item(hint), {}
            continue
        if cls is ConfigFile and not head:
            table = _hints(ConfigFile).get(part)
            if table is None:  # an unknown table or key at the top of the file
                return "", part, ConfigFile, None, {}
            head = f"[[{part}]]" if typing.get_origin(table) is list else f"[{part}]"
            cls = _item(table)
            hint = table
            continue
        if part not in _hints(cls):
            return head, part, cls, None, {}
        f = next(f for f in fields(cls) if f.name == part)
        key, hint, meta = part, _hints(cls)[part], dict(f.metadata)
    return head, key, cls, hint, meta


def _unknown(head: str, name: str, cls, value) -> str:
    import difflib

    if name == "password":
        return f"{head}: inline `password` is not allowed; use password_env or password_file"
    known = [f.name for f in _settable(cls)]
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else f"; known: {', '.join(known)}"
    if not head and isinstance(value, (dict, list)):
        return f"unknown table [{name}]{hint}"
    if not head:
        return f"unknown key {name}{hint}"
    return f"{head}: unknown key {name}{hint}"


def _expected(hint, meta: dict) -> str:
    """What a value of this type must be, in the admin's words."""
    if typing.get_origin(hint) is Literal:
        return "one of " + ", ".join(f'"{a}"' for a in typing.get_args(hint))
    if typing.get_origin(hint) is list:
        inner = _item(hint)
        if is_dataclass(inner):
            return "a list of tables"
        return 'a list such as ["…", "…"]' if inner is str else f"a list of {_expected(inner, {})}"
    if is_dataclass(hint):
        return "a table"
    words = {
        bool: "true or false",
        int: "a whole number",
        float: "a number",
        str: 'text in quotes ("…")',
    }
    text = words.get(hint, getattr(hint, "__name__", str(hint)))
    if "ge" in meta and "le" in meta:
        text += f" from {meta['ge']} to {meta['le']}"
    elif "ge" in meta:
        text += f", {meta['ge']} or more"
    elif "gt" in meta:
        text += f" greater than {meta['gt']}"
    return text


def _show(value) -> str:
    """A wrong value, short, as TOML writes it (never called for passwords or URLs)."""
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, bool):
        return str(value).lower()
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _check(config: Config) -> str:
    """What types cannot say: keys that depend on each other, names and URLs that must resolve."""
    problem = _check_url(config.database_url)
    if problem:
        return f"[database]: url {problem}"
    for number, box in enumerate(config.mailboxes, 1):
        problem = _check_endpoint(box, "imap")
        if problem:
            return f"[[mailbox]] #{number}: {problem}"
    problem = _check_endpoint(config.outgoing, "smtp")
    if problem:
        return f"[outgoing]: {problem}"
    for number, engineer in enumerate(config.engineers, 1):
        if "@" not in engineer.address:
            return (
                f"[[engineer]] #{number}: address must be an email address, "
                f"not {_show(engineer.address)}"
            )
    for address in config.digest_recipients:
        if "@" not in address:
            return f"[digest]: recipients must be email addresses, not {_show(address)}"
    for key in ("repeat_window", "engineer_sla"):
        value = getattr(config.digest, key)
        try:
            parse_duration(value)
        except ValueError:
            return (
                f'[digest]: {key} must be a duration such as "30d" or "24h" '
                f"(a number with m, h, d or w), not {_show(value)}"
            )
    return _check_desk(config.desk)


_DURATION = re.compile(r"\s*(\d+)\s*(m|min|h|d|w)\s*", re.I)
_UNITS = {"m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """`90m`, `24h`, `7d` or `2w` as a timedelta; ValueError saying what is expected."""
    m = _DURATION.fullmatch(text or "")
    if not m or int(m[1]) == 0:
        raise ValueError(
            f"expected a positive number with m, h, d or w (90m, 24h, 7d), not {text!r}"
        )
    return timedelta(**{_UNITS[m[2].lower()]: int(m[1])})


def _check_url(url: str) -> str:
    from sqlalchemy.engine.url import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError):  # the URL itself is never echoed: it may hold a password
        return (
            "is not a database URL (such as sqlite:///gongdan.db or "
            "postgresql+psycopg://user@host/db)"
        )
    if backend == "postgres":
        return "must start postgresql:// or postgresql+psycopg://, not postgres://"
    if backend not in DATABASES:
        return f"names an unsupported database {backend!r}: only sqlite and postgresql"
    return ""


def _check_endpoint(settings: MailboxSettings | OutgoingSettings, network: str) -> str:
    for key in ("password_env",):
        value = getattr(settings, key)
        if value and not VARIABLE_NAME.fullmatch(value):
            return (
                f"{key} must name an environment variable that holds the password "
                "(such as GONGDAN_PASSWORD), not the password itself"
            )
    if settings.password_env and settings.password_file:
        return "give password_env or password_file, not both"
    if settings.kind == network:
        for key in ("host", "username") if network == "imap" else ("host",):
            if not getattr(settings, key):
                return f'{key} is required when kind = "{network}"'
    return ""


def _check_durations(desk: DeskSettings) -> str:
    for name in ("remind_after", "hold_after"):
        try:
            parse_duration(getattr(desk, name))
        except ValueError:
            return (
                f'[desk]: {name} must be a duration such as "2d" or "36h" '
                f"(a number with m, h, d or w), not {_show(getattr(desk, name))}"
            )
    if parse_duration(desk.hold_after) <= parse_duration(desk.remind_after):
        return (
            f"[desk]: hold_after ({desk.hold_after}) must be longer than "
            f"remind_after ({desk.remind_after})"
        )
    return ""


def _check_desk(desk: DeskSettings) -> str:
    import difflib

    from ingest.reading import stopcodes
    from ingest.reading.fields import catalog

    keys = [spec.key for spec in catalog().fields]
    for name in ("required_simple", "required_none", "required_detailed"):
        for key in getattr(desk, name):
            if key not in keys:
                close = difflib.get_close_matches(key, keys, n=1)
                hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(keys)}"
                return f"[desk]: {name} has an unknown field {_show(key)}; {hint}"
    problem = _check_durations(desk)
    if problem:
        return problem
    try:
        tables = stopcodes.vendors(desk.stopcode_dir or None)
    except (OSError, ValueError, KeyError) as exc:
        return f"[desk]: stopcode_dir holds a table that cannot be read: {exc}"
    if desk.default_vendor not in tables:
        return (
            f"[desk]: default_vendor {_show(desk.default_vendor)} has no stop-code table; "
            f"known: {', '.join(sorted(tables))}"
        )
    return ""


# Plain (unencrypted) IMAP and SMTP are allowed to these hosts only.
def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1, judged from the text alone (no name is looked up)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback
