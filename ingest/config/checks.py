"""What types cannot say: keys that depend on each other, names and URLs that must resolve, and
the hosts that plain (unencrypted) IMAP and SMTP may reach."""

from __future__ import annotations

import re

from ingest.config.durations import parse_duration
from ingest.config.schema import shown
from ingest.config.settings import (
    Config,
    DeskSettings,
    MailboxSettings,
    OutgoingSettings,
    zone,
)
from ingest.reading.addresses import is_public
from ingest.reading.data_files import vendors
from ingest.reading.field_specs import field_specs

VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
DATABASES = ("sqlite", "postgresql")
# A database URL as SQLAlchemy's make_url reads it (its pattern; the port must be a number):
# driver://[user[:password]@][host][:port][/database][?query], the driver such as sqlite or
# postgresql+psycopg. Read here without SQLAlchemy, which only ingest.store imports (issue 18).
DATABASE_URL = re.compile(
    r"""
    (?P<driver>[\w+]+)://
    (?:[^:/]*(?::(?P<password>[^@]*))?@)?
    (?:(?:\[[^/?]+\]|[^/:?]+)?(?::(?P<port>[^/?]*))?)?
    (?:/[^?]*)?
    (?:\?.*)?
    """,
    re.X,
)


def check(config: Config) -> str:
    """What types cannot say: keys that depend on each other, names and URLs that must resolve."""
    problem = _check_url(config.database_url)
    if problem:
        return f"[database]: url {problem}"
    problem = _check_database_password(config)
    if problem:
        return f"[database]: {problem}"
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
                f"not {shown(engineer.address)}"
            )
    for address in config.digest_recipients:
        if "@" not in address:
            return f"[digest]: recipients must be email addresses, not {shown(address)}"
    for key in ("repeat_window", "engineer_sla"):
        value = getattr(config.digest, key)
        try:
            parse_duration(value)
        except ValueError:
            return (
                f'[digest]: {key} must be a duration such as "30d" or "24h" '
                f"(a number with min, h, d, w or mo), not {shown(value)}"
            )
    return _check_desk(config.desk)


def _is_port(text: str | None) -> bool:
    """No port, or one that reads as a number as SQLAlchemy reads it (int(); `host:` is not)."""
    if text is None:
        return True
    try:
        int(text)
    except ValueError:
        return False
    return True


def _check_url(url: str) -> str:
    match = DATABASE_URL.match(url)
    if match is None or not _is_port(match["port"]):
        # The URL itself is never echoed: it may hold a password.
        return (
            "is not a database URL (such as sqlite:///gongdan.db or "
            "postgresql+psycopg://user@host/db)"
        )
    backend = match["driver"].split("+")[0]
    if backend == "postgres":
        return "must start postgresql:// or postgresql+psycopg://, not postgres://"
    if backend not in DATABASES:
        return f"names an unsupported database {backend!r}: only sqlite and postgresql"
    return ""


def _check_database_password(config: Config) -> str:
    """PostgreSQL's password comes from password_env or password_file, never from the URL."""
    table = config.database
    if DATABASE_URL.match(config.database_url)["password"]:
        return (
            "url must not hold a password (user:password@); give it with password_env "
            "or password_file"
        )
    if table.password_env and not VARIABLE_NAME.fullmatch(table.password_env):
        return (
            "password_env must name an environment variable that holds the password "
            "(such as GONGDAN_DB_PASSWORD), not the password itself"
        )
    if table.password_env and table.password_file:
        return "give password_env or password_file, not both"
    if (table.password_env or table.password_file) and config.database_url.startswith("sqlite"):
        return "password_env and password_file are for PostgreSQL; SQLite has no password"
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
    for name in ("remind_after", "hold_after", "reopen_within"):
        try:
            parse_duration(getattr(desk, name))
        except ValueError:
            return (
                f'[desk]: {name} must be a duration such as "2d" or "36h" '
                f"(a number with min, h, d, w or mo), not {shown(getattr(desk, name))}"
            )
    if parse_duration(desk.hold_after) <= parse_duration(desk.remind_after):
        return (
            f"[desk]: hold_after ({desk.hold_after}) must be longer than "
            f"remind_after ({desk.remind_after})"
        )
    return ""


def _check_desk(desk: DeskSettings) -> str:
    keys = list(field_specs().by_key)  # the fields' keys, as required_* name them
    for name in ("required_simple", "required_none", "required_detailed"):
        for key in getattr(desk, name):
            if key not in keys:
                import difflib  # a wrong config only: a poll's good one needs none

                close = difflib.get_close_matches(key, keys, n=1)
                hint = f"did you mean {close[0]}?" if close else f"known: {', '.join(keys)}"
                return f"[desk]: {name} has an unknown field {shown(key)}; {hint}"
    problem = _check_durations(desk)
    if problem:
        return problem
    try:
        zone(desk.timezone)
    except ValueError as exc:
        return f"[desk]: timezone: {exc}"
    try:
        tables = vendors(desk.stopcode_dir or None)
    except (OSError, ValueError, KeyError) as exc:
        return f"[desk]: stopcode_dir holds a table that cannot be read: {exc}"
    if desk.default_vendor not in tables:
        return (
            f"[desk]: default_vendor {shown(desk.default_vendor)} has no stop-code table; "
            f"known: {', '.join(sorted(tables))}"
        )
    return ""


def config_warnings(config: Config) -> list[str]:
    """What the config allows but should not ask for: a public mail domain among the operator
    domains (it is never trusted as a colleague's or a Reply-To domain, SPEC §6b)."""
    public = public_operator_domains(config)
    return [public_domains_warning(public)] if public else []


def public_operator_domains(config: Config) -> list[str]:
    """The public mail domains (qq.com, 163.com, ...) listed in `[desk] operator_domains`."""
    return [d for d in config.desk.operator_domains if is_public(d)]


def public_domains_warning(public: list[str]) -> str:
    return (
        f"[desk]: operator_domains lists public mail domains ({', '.join(public)}): anyone can "
        "have an address there, so they are never trusted as colleagues' or Reply-To domains"
    )


# Plain (unencrypted) IMAP and SMTP are allowed to these hosts only.
def is_loopback(host: str) -> bool:
    """localhost, 127.0.0.0/8 or ::1, judged from the text alone (no name is looked up)."""
    name = host.strip().strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    import ipaddress  # asked for plain IMAP or SMTP only

    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback
