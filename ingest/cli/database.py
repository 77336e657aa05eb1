"""`gongdan db`, and the migrated database every other command opens."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from ingest.cli.common import config_of
from ingest.config import Config, ConfigError, config_warnings, database_password
from ingest.store import db
from ingest.store.db import Engine


@contextmanager
def database(config: Config) -> Iterator[Engine]:
    """The migrated database of `config`, closed when the command ends."""
    try:
        engine = db.open_database(config.database_url, database_password(config))
    except (ConfigError, db.DatabaseError) as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        yield engine
    except db.SQLAlchemyError as exc:
        # A statement the database refused in any command: one line and exit 1, no traceback.
        raise click.ClickException(f"database error: {db.short_error(exc)}") from exc
    finally:
        engine.dispose()


@click.group("db")
def db_group() -> None:
    """Create and upgrade the database.

    Example: gongdan db upgrade
    """


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create the database, or upgrade it to this version's tables. Safe to run again.

    Example: gongdan --config gongdan.toml db upgrade
    """
    config = config_of(ctx)
    for warning in config_warnings(config):
        click.echo(f"warning: {warning}", err=True)
    try:
        before, after = db.upgrade(config.database_url, database_password(config))
    except (ConfigError, db.DatabaseError) as exc:
        raise click.ClickException(str(exc)) from exc
    if before == after:
        click.echo(f"database is up to date (revision {after})")
    else:
        click.echo(f"database upgraded from {before or 'empty'} to revision {after}")
