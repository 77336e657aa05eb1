"""gongdan.toml (SPEC §9, §10): one schema, every default in one place, checked whole.

settings: the dataclasses and their defaults; schema: the file's strict schema and its errors;
checks: what types cannot say; loading: finding, reading and resolving the file.
"""

from ingest.config.checks import config_warnings, is_loopback
from ingest.config.durations import parse_duration
from ingest.config.loading import (
    ConfigError,
    database_password,
    load_config,
    parse_config,
    read_secret,
)
from ingest.config.schema import schema_keys
from ingest.config.settings import (
    DEFAULT_ZONE,
    MAX_CONNECTIONS,
    Config,
    DeskSettings,
    DigestTable,
    Engineer,
    MailboxSettings,
    OutgoingSettings,
    Security,
    zone,
)

__all__ = [
    "DEFAULT_ZONE",
    "MAX_CONNECTIONS",
    "Config",
    "ConfigError",
    "database_password",
    "DeskSettings",
    "DigestTable",
    "Engineer",
    "MailboxSettings",
    "OutgoingSettings",
    "Security",
    "config_warnings",
    "is_loopback",
    "load_config",
    "parse_duration",
    "parse_config",
    "read_secret",
    "schema_keys",
    "zone",
]
