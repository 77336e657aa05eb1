"""What a sysadmin meets installing and running the desk (SPEC §9a, §8's status warning): the
version, the install step, the database password, quiet cron, status for Prometheus, a missing
Maildir, files that cannot be written, one prefix per error line, an SMTP server that is down."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text as sql
from sqlalchemy import update

from ingest.cli.main import cli
from ingest.config import ConfigError, parse_config
from ingest.store.models import Outbox
from tests.clock import utcnow
from tests.conftest import make_mail
from tests.desk import COMPLETE, ENGINEER_TOML, INCOMPLETE, Desk, smtp_outgoing
from tests.servers import SmtpSink, free_port

ROOT = Path(__file__).resolve().parents[1]
NOW = "2026-12-01T09:00+08:00"
LATER = "2026-12-01T11:00+08:00"


def mail(n: int = 1, body: str = INCOMPLETE) -> bytes:
    """Operator `n`'s ticket email, with its own Message-ID."""
    return make_mail(
        body, sender=f"ops{n}@xingxing.example.cn", message_id=f"<m{n}@xingxing.example.cn>"
    )


def maildir_desk(tmp_path: Path, extra: str = "", **kwargs) -> Desk:
    return Desk(tmp_path, f"sqlite:///{tmp_path}/gongdan.db", extra=extra, **kwargs)


def one_line_error(result, *expected: str) -> str:
    """Exit 1, one line on stderr holding `expected`, no traceback."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


# --- version and install -------------------------------------------------------------------------


def test_version_is_the_package_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"gongdan {importlib.metadata.version('gongdan')}\n"


def test_running_the_desk_starts_with_the_install_command():
    readme = (ROOT / "README.md").read_text("utf-8")
    section = readme.split("## Running the desk", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    first = block.splitlines()[0]
    assert "pip install" in first, first
    assert section.index("```sh") < section.index("gongdan db upgrade")


# --- the database password -----------------------------------------------------------------------


def _config(database: str) -> str:
    return f"[database]\n{database}\n"


def test_inline_database_password_is_refused_naming_the_key(tmp_path):
    config = tmp_path / "gongdan.toml"
    config.write_text(
        _config('url = "postgresql+psycopg://gongdan:hunter2@127.0.0.1:5432/gongdan"'), "utf-8"
    )
    result = CliRunner().invoke(cli, ["--config", str(config), "db", "upgrade"])
    line = one_line_error(result, "[database]", "url must not hold a password", "password_env")
    assert "hunter2" not in result.output
    # Positive control: the same URL without the password, with password_env, is a good config.
    parse_config(
        _config(
            'url = "postgresql+psycopg://gongdan@127.0.0.1:5432/gongdan"\n'
            'password_env = "GD_DB_PASSWORD"'
        )
    )
    assert line.startswith("Error: ")


@pytest.mark.parametrize(
    "keys, problem",
    [
        ('password_env = "hunter2 with spaces"', "must name an environment variable"),
        ('password_env = "A"\npassword_file = "/x"', "not both"),
    ],
)
def test_database_password_keys_are_checked(keys, problem):
    with pytest.raises(ConfigError, match=problem) as caught:
        parse_config(_config(f'url = "postgresql+psycopg://u@127.0.0.1/db"\n{keys}'))
    assert "hunter2" not in str(caught.value) and "[database]" in str(caught.value)


@pytest.mark.servers
def test_postgresql_password_from_env_or_file_never_shown(tmp_path, postgres):
    """A role that must give its password (scram): gongdan gets it from password_env or
    password_file; a wrong one is refused in one line that does not show it."""
    role, secret = "gd_admin_pw", "s3cret-Pw-9"
    name = "gd_admin_pw_db"
    postgres._run(
        postgres.bindir / "psql", "-h", postgres.host, "-p", str(postgres.port), "-U",
        "postgres", "-c", f"CREATE ROLE {role} LOGIN PASSWORD '{secret}'",
    )  # fmt: skip
    postgres.create_database(name)
    postgres._run(
        postgres.bindir / "psql", "-h", postgres.host, "-p", str(postgres.port), "-U",
        "postgres", "-c", f"ALTER DATABASE {name} OWNER TO {role}",
    )  # fmt: skip
    hba = postgres.data / "pg_hba.conf"
    hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    postgres._run(postgres.bindir / "pg_ctl", "-D", postgres.data, "reload")
    url = f"postgresql+psycopg://{role}@{postgres.host}:{postgres.port}/{name}"
    config = tmp_path / "gongdan.toml"

    def run(keys: str, env: dict):
        config.write_text(_config(f'url = "{url}"\n{keys}'), "utf-8")
        return CliRunner().invoke(cli, ["--config", str(config), "db", "upgrade"], env=env)

    unset = run('password_env = "GD_DB_PW"', {"GD_DB_PW": None})
    one_line_error(unset, "[database]: environment variable GD_DB_PW is not set")
    wrong = run('password_env = "GD_DB_PW"', {"GD_DB_PW": "not-the-" + secret})
    one_line_error(wrong, "cannot upgrade database", "password authentication failed")
    assert secret not in wrong.output
    right = run('password_env = "GD_DB_PW"', {"GD_DB_PW": secret})
    assert right.exit_code == 0, right.output
    assert "upgraded" in right.output and secret not in right.output
    secret_file = tmp_path / "db-password"
    secret_file.write_text(secret + "\n", "utf-8")
    from_file = run(f'password_file = "{secret_file}"', {})
    assert from_file.exit_code == 0 and "up to date" in from_file.output
    status = CliRunner().invoke(cli, ["--config", str(config), "status", "--json"])
    assert secret not in status.output
    assert json.loads(status.stdout)["database"]["revision"]
    postgres.drop_database(name)


# --- quiet cron ----------------------------------------------------------------------------------


def _cron_poll(desk: Desk, *args: str) -> subprocess.CompletedProcess:
    """`gongdan poll` as cron runs it: a process of its own, its stdout and stderr apart."""
    return subprocess.run(
        [sys.executable, "-m", "ingest", "--config", str(desk.config), "poll", *args],
        env=desk.env,
        capture_output=True,
        text=True,
        cwd=desk.root,
        timeout=120,
    )


def test_quiet_cron_prints_nothing_when_nothing_is_wrong(tmp_path):
    desk = maildir_desk(tmp_path)
    desk.deliver(mail())
    quiet = _cron_poll(desk, "--log-level", "WARNING", "--now", NOW)
    assert quiet.returncode == 0
    assert (quiet.stdout, quiet.stderr) == ("", "")
    # It did its work: the ticket is stored and its reply written.
    assert len(desk.tickets()) == 1 and len(desk.replies()) == 1
    empty = _cron_poll(desk, "--log-level", "WARNING", "--now", NOW)
    assert (empty.returncode, empty.stdout, empty.stderr) == (0, "", "")
    # Positive control: at the default level each cycle says what it did.
    told = _cron_poll(desk, "--now", NOW)
    assert told.returncode == 0 and "mailbox support: no new mail" in told.stdout


def test_quiet_cron_still_reports_a_failure(tmp_path):
    desk = maildir_desk(tmp_path)
    desk.write_outgoing(smtp_outgoing(free_port()))  # nothing listens there
    desk.deliver(mail())
    failed = _cron_poll(desk, "--log-level", "WARNING", "--now", NOW)
    assert failed.returncode == 1
    assert failed.stderr.count("\n") == 1 and "cannot reach SMTP server" in failed.stderr


# --- status --------------------------------------------------------------------------------------


def _metrics(text: str) -> dict[str, int]:
    """Prometheus text exposition as {name{labels}: value}; every line is HELP, TYPE or a
    sample."""
    found = {}
    for line in text.splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        match = re.fullmatch(r'([a-z_]+(?:\{[a-z]+="[^"]*"\})?) (-?\d+)', line)
        assert match, line
        found[match.group(1)] = int(match.group(2))
    return found


def test_status_prometheus_figures(tmp_path):
    desk = maildir_desk(tmp_path)
    desk.deliver(mail())
    desk.deliver(mail(2, COMPLETE))
    desk.deliver(mail(3, COMPLETE))
    assert desk.gongdan("poll", "--now", NOW).exit_code == 0
    polled = datetime.fromisoformat(NOW)
    first, second, third = desk.rows()
    # One reply failed (queued 30 minutes before the poll), one held back by the daily limit,
    # one queued.
    desk.execute(
        update(Outbox.__table__)
        .where(Outbox.id == first.id)
        .values(state="failed", attempts=2, created_at=polled - timedelta(minutes=30))
    )
    desk.execute(
        update(Outbox.__table__)
        .where(Outbox.id == second.id)
        .values(state="held", attempts=0, next_attempt_at=None)
    )
    desk.execute(
        update(Outbox.__table__)
        .where(Outbox.id == third.id)
        .values(state="queued", attempts=0, next_attempt_at=polled)
    )
    result = desk.gongdan("status", "--format", "prometheus", "--now", LATER)
    assert result.exit_code == 1  # degraded: a reply failing for over an hour
    assert "# TYPE gongdan_outbox_replies gauge" in result.stdout
    figures = _metrics(result.stdout)
    assert figures == {
        "gongdan_status": 1,
        'gongdan_mailbox_last_success_timestamp_seconds{mailbox="support"}': int(
            polled.timestamp()
        ),
        'gongdan_outbox_replies{state="queued"}': 1,
        'gongdan_outbox_replies{state="failed"}': 1,
        'gongdan_outbox_replies{state="held"}': 1,
        "gongdan_outbox_oldest_failure_age_seconds": int(timedelta(hours=2.5).total_seconds()),
    }
    # --json is --format json.
    as_json = desk.gongdan("status", "--format", "json", "--now", LATER)
    assert json.loads(as_json.stdout)["outbox"]["held"] == 1


def test_status_prometheus_when_the_database_cannot_be_read(tmp_path):
    config = tmp_path / "gongdan.toml"
    config.write_text(_config(f'url = "sqlite:///{tmp_path}/none/gongdan.db"'), "utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "status", "--format", "prometheus"])
    assert result.exit_code == 2
    assert _metrics(result.stdout) == {"gongdan_status": 2}
    assert result.stderr.startswith("BROKEN: ")


def test_status_warns_that_engineer_mail_is_not_verified(tmp_path):
    desk = maildir_desk(tmp_path / "open", extra=ENGINEER_TOML)
    assert desk.gongdan("poll", "--now", NOW).exit_code == 0
    result = desk.gongdan("status", "--now", NOW)
    assert result.exit_code == 0  # a warning, not a fault
    assert "注意：工程师邮件未经验证" in result.output and "trusted_authserv_id" in result.output
    # Positive control: with verification on, no warning.
    checked = maildir_desk(
        tmp_path / "checked",
        extra=f'[desk]\ntrusted_authserv_id = "mx.gongdan.example.cn"\n{ENGINEER_TOML}',
    )
    assert checked.gongdan("poll", "--now", NOW).exit_code == 0
    result = checked.gongdan("status", "--now", NOW)
    assert result.exit_code == 0 and "not verified" not in result.output
    assert "未经验证" not in result.output


# --- a Maildir that is not there -----------------------------------------------------------------


def test_missing_maildir_is_an_error_not_an_empty_mailbox(tmp_path):
    desk = maildir_desk(tmp_path)
    missing = tmp_path / "inbx"  # mistyped
    desk.config.write_text(
        desk.config.read_text("utf-8").replace(str(desk.inbox), str(missing)), "utf-8"
    )
    line = one_line_error(desk.gongdan("poll", "--now", NOW), f"Maildir {missing} does not exist")
    assert line.count("mailbox support") == 1
    assert not missing.exists()  # never created
    code, report = desk.status()
    assert code == 1 and "does not exist" in report["mailboxes"][0]["last_error"]
    # Positive control: the right path polls.
    desk.config.write_text(
        desk.config.read_text("utf-8").replace(str(missing), str(desk.inbox)), "utf-8"
    )
    desk.deliver(mail())
    assert desk.gongdan("poll", "--now", NOW).exit_code == 0 and len(desk.tickets()) == 1


def test_a_statement_the_database_refuses_is_one_line_in_any_command(tmp_path):
    desk = maildir_desk(tmp_path, extra=ENGINEER_TOML)
    desk.poll(mail())
    # Positive control first: the same commands on the whole database.
    for command in (["digest", "--dry-run", "--now", NOW], ["stats"], ["export"]):
        assert desk.gongdan(*command).exit_code == 0, command
    desk.execute(sql("DROP TABLE stopcodehit"))  # a statement that must now fail
    for command in (["digest", "--dry-run", "--now", NOW], ["stats"], ["export"]):
        one_line_error(desk.gongdan(*command), "database error", "stopcodehit")


# --- files a command cannot write ----------------------------------------------------------------


def test_digest_out_to_a_missing_folder_is_one_line_and_queues_nothing(tmp_path):
    desk = maildir_desk(tmp_path, extra=ENGINEER_TOML)
    desk.poll(mail())
    before = len(desk.rows())
    out = tmp_path / "missing" / "dir" / "d.html"
    one_line_error(desk.gongdan("digest", "--out", str(out), "--now", NOW), f"cannot write {out}")
    assert len(desk.rows()) == before  # no digest queued
    # Positive control: a folder that exists.
    good = tmp_path / "d.html"
    result = desk.gongdan("digest", "--out", str(good), "--now", NOW)
    assert result.exit_code == 0 and good.read_text("utf-8").startswith("<!")


@pytest.mark.parametrize("place", ["/proc/nope", "file/under-a-file"])
def test_export_raw_to_an_unwritable_place_is_one_line(tmp_path, place):
    desk = maildir_desk(tmp_path)
    desk.poll(mail())
    (tmp_path / "file").write_text("not a folder", "utf-8")
    target = place if place.startswith("/") else str(tmp_path / place)
    one_line_error(desk.gongdan("export", "--raw", target), f"cannot write {target}")
    # Positive control: a new folder is made and filled.
    backup = tmp_path / "backup"
    assert desk.gongdan("export", "--raw", str(backup)).exit_code == 0
    assert (backup / "1" / "1.eml").exists()


def test_export_of_an_unknown_ticket_says_so(tmp_path):
    desk = maildir_desk(tmp_path)
    desk.poll(mail())
    one_line_error(desk.gongdan("export", "--ticket", "99"), "no ticket #99")
    known = desk.gongdan("export", "--ticket", "1")
    assert known.exit_code == 0 and json.loads(known.stdout)["id"] == 1


# --- one prefix per error line -------------------------------------------------------------------


def test_error_lines_carry_their_prefix_once(tmp_path):
    desk = maildir_desk(tmp_path)
    # An IMAP mailbox whose password variable is not set: refused before any connection.
    text = desk.config.read_text("utf-8").replace(
        f'kind = "maildir"\npath = "{desk.inbox}"\n',
        'kind = "imap"\nhost = "127.0.0.1"\nport = 1\nsecurity = "plain"\n'
        'username = "support"\npassword_env = "GD_UNSET_PASSWORD"\n',
    )
    desk.config.write_text(text, "utf-8")
    result = CliRunner().invoke(
        cli,
        ["--config", str(desk.config), "poll", "--now", NOW],
        env={"GD_UNSET_PASSWORD": None},
    )
    line = one_line_error(result, "environment variable GD_UNSET_PASSWORD is not set")
    assert line == (
        "Error: mailbox support: IMAP password: environment variable GD_UNSET_PASSWORD is not set"
    )
    _, report = desk.status()
    assert report["mailboxes"][0]["last_error"].count("mailbox support") == 0


# --- an SMTP server that is down -----------------------------------------------------------------


@pytest.mark.servers
def test_unreachable_smtp_charges_no_attempt_and_sends_oldest_first_when_back(tmp_path):
    port = free_port()
    desk = maildir_desk(tmp_path, outgoing=smtp_outgoing(port))
    senders = [f"ops{n}@xingxing.example.cn" for n in range(6)]
    for n in range(len(senders)):
        desk.deliver(mail(n), name=f"{1700000000 + n}.M1.test")
    # Nothing listens on the port: connection refused.
    one_line_error(desk.gongdan("poll", "--now", NOW), "cannot reach SMTP server 127.0.0.1")
    rows = desk.rows()
    assert len(rows) == len(senders)
    assert {(r.state, r.attempts, r.last_error) for r in rows} == {("queued", 0, None)}
    assert all(r.next_attempt_at <= utcnow() for r in rows)  # due: no back-off of their own
    sink = SmtpSink(port=port)
    sink.start()
    try:
        desk.smtp = sink
        sent = desk.gongdan("send")
        assert sent.exit_code == 0, sent.output
        assert "6 sent, 0 failed" in sent.output
        received = sink.messages
    finally:
        sink.stop()
    # Oldest first: the first reply to reach the server answers the first mail queued.
    assert [r.rcpt_tos for r in received][0] == (senders[0],)
    assert sorted(r.rcpt_tos[0] for r in received) == sorted(senders)
    assert {(r.state, r.attempts) for r in desk.rows()} == {("sent", 1)}
