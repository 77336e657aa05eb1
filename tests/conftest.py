"""Shared test helpers: where the product owner's shared folder is, and small email builders."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.desk import imap_desk

SHARED = Path(__file__).resolve().parents[2] / "shared"
# The product owner's copy when it is beside the repository; else the copy kept with the tests.
SEED = next(
    (
        p
        for p in (
            SHARED / "seed" / "000_f8498a7589e1df74.txt",
            Path(__file__).resolve().parent / "fixtures" / "seed" / "000_f8498a7589e1df74.txt",
        )
        if p.exists()
    ),
    SHARED / "seed" / "000_f8498a7589e1df74.txt",
)


@pytest.fixture
def seed_text() -> str:
    """The unescaped wiki page (SPEC §2); skips where ../shared is absent."""
    if not SEED.exists():
        pytest.skip(f"the seed wiki page is not at {SEED}")
    from tests.seed import unescape_seed

    return unescape_seed(SEED.read_text("utf-8"))


pytest_plugins = ["tests.conftest_servers"]

# The Date of test mail: sent as the session starts (a ticket's age counts from its mail's own
# time), the same for the whole session so equal mails stay equal bytes.
SENT = format_datetime(datetime.now().astimezone().replace(microsecond=0))


def make_mail(
    body: str,
    subject: str = "充电桩故障",
    sender: str = "ops@xingxing.example.cn",
    message_id: str | None = "<m1@xingxing.example.cn>",
    in_reply_to: str | None = None,
    references: str | None = None,
    charset: str = "utf-8",
    headers: dict | None = None,
    date: str | None = None,
) -> bytes:
    """A plain-text email as an operator's client sends it (`date`: its Date, default SENT)."""
    from email.header import Header

    lines = [
        f"From: {sender}",
        "To: support@gongdan.example.cn",
        f"Subject: {Header(subject, 'utf-8').encode()}",
        f"Date: {date or SENT}",
        "MIME-Version: 1.0",
        f'Content-Type: text/plain; charset="{charset}"',
        "Content-Transfer-Encoding: 8bit",
    ]
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    if in_reply_to:
        lines.append(f"In-Reply-To: {in_reply_to}")
    if references:
        lines.append(f"References: {references}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body.replace("\n", "\r\n").encode(
        charset
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """An empty database of each kind: a SQLite file, and a fresh database on a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/gongdan.db"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def engine(database_url):
    """A migrated database of each kind, as an engine."""
    from ingest.store import db

    db.upgrade(database_url)
    engine = db.open_database(database_url)
    yield engine
    engine.dispose()


# Fixtures that start a real server (Dovecot, PostgreSQL, aiosmtpd): a test using any of them,
# directly or through another fixture, belongs to the `servers` tier.
_SERVER_FIXTURES = {"dovecot", "dovecot_user", "postgres", "pg_url", "smtp_sink"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if _SERVER_FIXTURES & set(item.fixturenames) or "postgresql" in params.values():
            item.add_marker(pytest.mark.servers)


@pytest.fixture
def desk(tmp_path, dovecot, dovecot_user, smtp_sink, database_url):
    """gongdan on the test's Dovecot user, replying to the test's SMTP sink (tests.desk)."""
    return imap_desk(tmp_path, dovecot, dovecot_user, smtp_sink, database_url)
