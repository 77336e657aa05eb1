"""Fixtures for real loopback servers; load with `pytest_plugins = ["tests.conftest_servers"]`."""

from __future__ import annotations

import itertools
import os

import pytest

from tests.servers import Dovecot, Postgres, ServerUnavailable, SmtpSink, short_tmpdir

_counter = itertools.count(1)


def _require(server_class) -> None:
    """Fail loudly when a server is missing: CI must never pass with the servers silently
    skipped."""
    try:
        server_class.check()
        return
    except ServerUnavailable as err:
        reason = str(err)  # fail outside the except block, so the report shows only this message
    if os.environ.get("GONGDAN_SKIP_SERVERS") == "1":
        pytest.skip(f"GONGDAN_SKIP_SERVERS=1: {reason}")
    pytest.fail(f"{reason} (or set GONGDAN_SKIP_SERVERS=1 to skip server tests)", pytrace=False)


def running(server_class, prefix: str):
    """Start a private server in a fresh folder for a fixture, and clean it up afterwards."""
    _require(server_class)
    server = server_class(short_tmpdir(prefix))
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def dovecot():
    """One private Dovecot for the session; use `dovecot_user` for an isolated mailbox per test."""
    yield from running(Dovecot, "gd-dc-")


@pytest.fixture
def dovecot_user(dovecot):
    """A fresh mailbox user (name, password), so tests never see each other's mail."""
    name = f"user{next(_counter)}"
    dovecot.add_user(name, "pw-" + name)
    return name, "pw-" + name


@pytest.fixture(scope="session")
def postgres():
    yield from running(Postgres, "gd-pg-")


@pytest.fixture
def pg_url(postgres):
    """SQLAlchemy URL of a fresh, empty database for this test."""
    name = f"test{next(_counter)}"
    yield postgres.create_database(name)
    # --force inside: the code under test may still hold pooled connections.
    postgres.drop_database(name)


@pytest.fixture
def smtp_sink(request):
    """A running SmtpSink; for auth, parametrize indirectly with ("user", "password")."""
    _require(SmtpSink)
    sink = SmtpSink(require_auth=getattr(request, "param", None))
    sink.start()
    yield sink
    sink.stop()
