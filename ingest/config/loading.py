"""Load gongdan.toml (SPEC §9, §10): the file found, parsed, checked whole, its relative paths
made relative to it; and the passwords it names."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from ingest.config.checks import VARIABLE_NAME, check
from ingest.config.schema import validate
from ingest.config.settings import Config, ConfigFile
from ingest.reading.addresses import canonical_address, canonical_domain

DEFAULT_PATH = "gongdan.toml"
HOW_TO = (
    "try `gongdan demo`, or set up with `cp config.example.toml gongdan.toml` and edit it; "
    "then pass --config FILE or set $GONGDAN_CONFIG, or run from the folder that holds it"
)


class ConfigError(ValueError):
    """The configuration cannot be used; the message says which key and why."""


def parse_config(text: str, path: str = "") -> Config:
    where = path or "config"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    problem, file = validate(data)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    config = _resolve(file, path)
    problem = check(config)
    if problem:
        raise ConfigError(f"{where}: {problem}")
    return config


def _resolve(file: ConfigFile, path: str) -> Config:
    """The settings the code uses, from the file's tables."""
    config = Config(
        database_url=file.database.url,
        database=file.database,
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
    """Mail from these is ours, and never answered. Addresses and domains the desk compares are
    kept in their one canonical form (SPEC §6b)."""
    config.desk.own_addresses = sorted(
        {
            canonical_address(config.outgoing.from_address),
            *(canonical_address(b.username) for b in config.mailboxes if "@" in b.username),
        }
        - {""}
    )
    config.desk.operator_domains = [canonical_domain(d) for d in config.desk.operator_domains]
    for engineer in config.engineers:
        engineer.address = canonical_address(engineer.address)


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


def database_password(config: Config) -> str:
    """PostgreSQL's password from `[database] password_env` or `password_file` ("" for none)."""
    table = config.database
    return read_secret(table.password_env, table.password_file, "[database]")


def read_secret(password_env: str, password_file: str, what: str) -> str:
    """A password from the environment variable or file named in the config; errors begin with
    `what` (such as "[database]" or "SMTP password")."""
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
