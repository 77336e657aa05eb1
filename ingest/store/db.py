"""The database connection (SQLite or PostgreSQL) and its Alembic migrations."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine, Row, create_engine, make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

if TYPE_CHECKING:
    from sqlmodel import Session

# What the layers above use of the database's types and errors: nothing outside the store imports
# SQLAlchemy or SQLModel itself. A poll with no mail needs no Session: SQLModel, pydantic and
# SQLAlchemy's ORM are loaded with the first session (see __getattr__ and session(); issue 22).
__all__ = [
    "Connection",
    "DatabaseError",
    "Engine",
    "IntegrityError",
    "OperationalError",
    "Row",
    "SQLAlchemyError",
    "Session",
]

# The newest migration in ingest/store/migrations/versions. Every command checks the database
# against it, so it is a constant rather than Alembic's answer: loading Alembic costs a cron run
# more than the work. tests/test_cli.py checks it is Alembic's head; a new migration moves it.
HEAD_REVISION = "0011"

# The most values one statement binds from mail content (SPEC §6b): far below SQLite's 32,766
# and PostgreSQL's 65,535, so no mail, however many ids or addresses it names, stops a poll.
PARAMETERS = 500


class DatabaseError(RuntimeError):
    """The database cannot be used; the message says what to do."""


def _alembic_config(url: str):
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(resources.files("ingest.store") / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def head_revision() -> str:
    """The head revision as Alembic reads it from the migration files (HEAD_REVISION's check)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _create_private(engine: Engine) -> None:
    """Create a SQLite database file that does not exist yet readable by its owner only (0600).

    SQLite gives its -wal and -shm files the database file's mode, so they are private too. A
    file that exists already keeps its mode: it is the admin's, not ours to change.
    """
    database = engine.url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    try:
        os.close(os.open(database, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError:
        pass  # no such folder, no right to write there: SQLite says so in its own words


def make_engine(url: str, password: str = "") -> Engine:
    """The engine for `url`; SQLite gets WAL, foreign keys and a busy timeout, and a new
    database file is private (0600). `password` (PostgreSQL's, from [database] password_env or
    password_file) goes into the URL object only: SQLAlchemy shows it as *** wherever it is
    printed."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        _create_private(engine)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    target = make_url(url).set(password=password) if password else url
    engine = create_engine(target, pool_pre_ping=True)
    event.listen(engine, "connect", _postgresql_session)
    return engine


def _postgresql_session(dbapi_connection, _record) -> None:
    """No JIT compilation in our sessions. PostgreSQL compiles a plan whose estimated cost is
    high, and a per-ticket subquery over a long history looks costly: compiling one took longer
    than running it (0.4 to 1.2 s of the monthly review's 0.6 s query at 100,000 tickets). Set
    through pg_settings, so a server without the setting (before 11) is left as it is."""
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SELECT set_config(name, 'off', false) FROM pg_settings WHERE name = 'jit'")
    dbapi_connection.commit()


def current_revision(engine: Engine) -> str | None:
    """The revision Alembic recorded in the database; None for one without gongdan's tables."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    return ", ".join(sorted(found)) or None


# Tables a backfill fills: the planner must know their size before it picks a plan for them.
_FILLED = ("message", "ticket", "stopcodehit", "ticketevent", "outbox")


def analyze(conn: Connection) -> None:
    """Refresh PostgreSQL's statistics of the tables a backfill fills (SQLite needs none: its
    planner takes the indexes without them). Without it, a fresh database's duplicate check scans
    `message` until autovacuum's first ANALYZE, tens of thousands of rows later."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {', '.join(_FILLED)}")


def upgrade(url: str, password: str = "") -> tuple[str | None, str]:
    """Create or upgrade the database to the newest revision: (revision before, revision after)."""
    from alembic import command

    engine = make_engine(url, password)
    try:
        before = current_revision(engine)
        cfg = _alembic_config(url)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        with engine.begin() as conn:
            analyze(conn)
        return before, current_revision(engine)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"cannot upgrade database: {short_error(exc)}") from exc
    finally:
        engine.dispose()


def open_database(url: str, password: str = "") -> Engine:
    """An engine for a database at the newest revision; otherwise one line saying what to run."""
    engine = make_engine(url, password)
    try:
        revision = current_revision(engine)
    except SQLAlchemyError as exc:
        engine.dispose()
        raise DatabaseError(f"cannot open database: {short_error(exc)}") from exc
    head = HEAD_REVISION
    if revision != head:
        engine.dispose()
        state = (
            "has no gongdan tables"
            if revision is None
            else f"is at revision {revision}, not {head}"
        )
        raise DatabaseError(f"the database {state}: run `gongdan db upgrade`")
    return engine


def beside_database(engine: Engine, suffix: str) -> Path:
    """A hidden file beside a SQLite database (its locks): `.NAME.SUFFIX`."""
    database = engine.url.database or ""
    folder = Path(database).resolve().parent if database and database != ":memory:" else Path.cwd()
    return folder / f".{Path(database).name or 'gongdan'}.{suffix}"


def session(engine: Engine) -> Session:
    from sqlmodel import Session

    return Session(engine, expire_on_commit=False)


def __getattr__(name: str):
    """`Session`, imported from here by the layers above, loaded when first asked for."""
    if name == "Session":
        from sqlmodel import Session

        return Session
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def chunks(values: list, size: int = PARAMETERS) -> list[list]:
    """`values` cut into consecutive lists of at most `size`, for IN (...) lists (at least one
    list, empty when `values` is)."""
    return [values[i : i + size] for i in range(0, len(values), size)] or [[]]


# Bytes of mail one statement sends. Over TCP on loopback (lo's 64 KiB MTU), a statement that
# sends PostgreSQL more than its socket's receive buffer (128 KiB by Linux's default) now and then
# waits 200 ms for the window to reopen: two or three times in a 1,000-reminder run, a fifth of
# its time (tests/bench/bench_history.py). Statements this small never did, at the same speed.
STATEMENT_BYTES = 64 * 1024


def parts_by_size(rows: list, size_of, limit: int = STATEMENT_BYTES) -> list[list]:
    """`rows` cut into consecutive lists whose `size_of` adds up to at most `limit` (a row over
    it alone in its list)."""
    parts: list[list] = []
    total = limit
    for row in rows:
        size = size_of(row)
        if total + size > limit:
            parts.append([])
            total = 0
        parts[-1].append(row)
        total += size
    return parts


def rows_in(conn: Connection, query, column, values) -> list[Row]:
    """The rows of `query` whose `column` is one of `values`, however many: one statement a
    PARAMETERS of them (PostgreSQL takes at most 65,535 values in one statement)."""
    return [
        row
        for part in chunks(sorted(set(values)))
        if part
        for row in conn.execute(query.where(column.in_(part)))
    ]


# Failures of the database itself, not of the values sent: PostgreSQL's SQLSTATE classes
# (connection, rollback, resources, lock, shutdown, system, internal) and SQLite's result codes.
_DATABASE_STATES = ("08", "40", "53", "55", "57", "58", "XX")
_DATABASE_CODES = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_CANTOPEN",
    "SQLITE_CORRUPT",
    "SQLITE_NOTADB",
    "SQLITE_NOMEM",
    "SQLITE_PROTOCOL",
    "SQLITE_PERM",
    "SQLITE_AUTH",
    "SQLITE_INTERRUPT",
    "SQLITE_ABORT",
)


def databases_fault(exc: BaseException) -> bool:
    """A failure of the database itself (gone, locked, full): the cycle stops there. Any other
    failure is the mail's own or a bug of ours, and the mail is set apart."""
    return isinstance(exc, SQLAlchemyError) and not mails_own(exc)


def mails_own(exc: SQLAlchemyError) -> bool:
    """Whether a statement failed for the values of the mail being stored (a unique key, a
    value too large, text the database refuses) rather than for the database (gone, locked,
    full): only then is the mail set apart and the mailbox goes on (SPEC §6b)."""
    if isinstance(exc, IntegrityError):
        return True
    if not isinstance(exc, DBAPIError) or exc.connection_invalidated:
        return False
    state = getattr(exc.orig, "sqlstate", None)  # psycopg
    if state:
        return not state.startswith(_DATABASE_STATES)
    code = getattr(exc.orig, "sqlite_errorname", None)  # sqlite3
    if code:
        return not code.startswith(_DATABASE_CODES)
    return isinstance(exc, DataError)  # refused by the driver before it was sent (a NUL in text)


def short_error(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
