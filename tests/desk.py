"""The one test harness for a gongdan deployment: a config in a folder, a database, a mailbox (an
IMAP folder on the test's Dovecot, or a local Maildir), an outgoing sink (SMTP to the test's
aiosmtpd, or a Maildir outbox), and the CLI run in this process or as a child."""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import time
from email import policy
from itertools import count
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import select

from ingest.cli.main import cli
from ingest.store import db
from ingest.store.models import Outbox

FROM = "support@gongdan.example.cn"
COMPLETE = (
    "运营商：星星充电\n订单号：20261124081644614873\n问题描述：扫码后无法启动\n"
    "运营商初步排查结果：已重启，停止原因：34\n手机号：13512348382\n"
)
INCOMPLETE = "运营商：星星充电\n问题描述：3号桩充不上电\n"
# How the seed's standard reply (request_info) begins.
STANDARD = (
    "已收到问题。平台方会优先处理故障信息足够的工单。"
    "因贵司提供的工单缺少关键信息,我方还需额外分析梳理相关资料,请耐心等待。"
)
ENGINEER = "xiaoming@gongdan.example.cn"
IMAP_PASSWORD_ENV = "GD_IMAP_PW"
ENGINEER_TOML = f'[[engineer]]\nname = "小明"\naddress = "{ENGINEER}"\n'
_names = count()


def smtp_outgoing(port: int, auth: str = "") -> str:
    """An [outgoing] body for plain SMTP to a loopback server (`auth`: its username and password
    lines)."""
    return f'kind = "smtp"\nhost = "127.0.0.1"\nport = {port}\nsecurity = "plain"\n{auth}'


class Desk:
    """gongdan in `root`: the database at `url`; the mailbox is the Dovecot folder `imap =
    (dovecot, (user, password), folder)` or the Maildir `root/inbox`; replies go to `smtp` (a
    tests.servers.SmtpSink), to the [outgoing] body `outgoing`, or to the Maildir `root/outbox`.
    `extra` is more TOML. `password_env`: gongdan(password=...) sets that variable (unset by
    default); `env`: more variables for every command. `upgrade`: create the database now."""

    def __init__(
        self,
        root: Path,
        url: str,
        *,
        imap: tuple | None = None,
        smtp=None,
        outgoing: str | None = None,
        extra: str = "",
        password_env: str | None = None,
        env: dict | None = None,
        processed_folder: str = "",
        upgrade: bool = True,
    ):
        self.root, self.url, self.smtp, self.extra = Path(root), url, smtp, extra
        self.root.mkdir(parents=True, exist_ok=True)
        self.password_env, self.cli_env = password_env, env or {}
        self.processed_folder = processed_folder
        self.dovecot = self.user = None
        self.folder = "INBOX"
        self.inbox, self.outbox = self.root / "inbox", self.root / "outbox"
        self._env: dict = {}
        if imap:
            self.dovecot, self.user, self.folder = imap
            os.environ[IMAP_PASSWORD_ENV] = self._env[IMAP_PASSWORD_ENV] = self.user[1]
        else:
            for sub in ("new", "cur", "tmp"):
                (self.inbox / sub).mkdir(parents=True, exist_ok=True)
        self.config = self.root / "gongdan.toml"
        if outgoing is None:
            outgoing = (
                smtp_outgoing(smtp.port) if smtp else f'kind = "maildir"\npath = "{self.outbox}"\n'
            )
        self.write_outgoing(outgoing)
        if upgrade:
            assert self.gongdan("db", "upgrade").exit_code == 0

    @property
    def env(self) -> dict:
        """The environment of a child gongdan."""
        return {**os.environ, **self._env}

    def _mailbox(self) -> str:
        if self.dovecot is None:
            return f'kind = "maildir"\npath = "{self.inbox}"\n'
        processed = (
            f'processed_folder = "{self.processed_folder}"\n' if self.processed_folder else ""
        )
        return (
            f'kind = "imap"\nhost = "127.0.0.1"\nport = {self.dovecot.port}\nsecurity = "plain"\n'
            f'username = "{self.user[0]}"\npassword_env = "{IMAP_PASSWORD_ENV}"\n'
            f'folder = "{self.folder}"\n{processed}'
        )

    def write_outgoing(self, outgoing: str) -> None:
        """(Re)write the config with this [outgoing] body."""
        self.config.write_text(
            f'[database]\nurl = "{self.url}"\n\n[[mailbox]]\nname = "support"\n{self._mailbox()}\n'
            f'[outgoing]\nfrom_address = "{FROM}"\n{outgoing}\n{self.extra}\n',
            "utf-8",
        )

    # running gongdan ------------------------------------------------------------------------------

    def gongdan(self, *args: str, password: str | None = None):
        """The CLI in this process (`password` in the variable `password_env`, else unset)."""
        env = {**self.cli_env, **({self.password_env: password} if self.password_env else {})}
        return CliRunner().invoke(
            cli, ["--config", str(self.config), *args], env=env, catch_exceptions=False
        )

    def poll(self, *raws: bytes):
        """Deliver `raws`, then one `gongdan poll`, which must succeed."""
        for raw in raws:
            self.deliver(raw)
        result = self.gongdan("poll")
        assert result.exit_code == 0, result.output
        return result

    def poll_process(self, *args: str) -> subprocess.Popen:
        """`gongdan poll ARGS` as a child process, its output in pipes."""
        return subprocess.Popen(
            [sys.executable, "-m", "ingest", "--config", str(self.config), "poll", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def process(self, *args: str) -> subprocess.Popen:
        """`gongdan ARGS` as a child process, its output in a file (read with said())."""
        self.out = self.root / f"child{time.monotonic_ns()}.out"
        with self.out.open("wb") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "ingest", "--config", str(self.config), *args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.root,
            )

    def said(self) -> str:
        return self.out.read_text("utf-8", "replace")

    # mail in --------------------------------------------------------------------------------------

    def deliver(self, raw: bytes, name: str | None = None) -> Path | None:
        """Put `raw` in the mailbox (a Maildir file named `name`, or the next free name)."""
        if self.dovecot is not None:
            self.dovecot.append(self.user[0], raw, folder=self.folder)
            return None
        path = self.inbox / "new" / (name or f"{1700000000 + next(_names)}.M1.test")
        path.write_bytes(raw)
        return path

    # what gongdan shows ---------------------------------------------------------------------------

    def tickets(self, *args: str) -> list[dict]:
        """`tickets list --json ARGS` (`--all`: closed tickets too)."""
        return [
            json.loads(line)
            for line in self.gongdan("tickets", "list", "--json", *args).output.splitlines()
        ]

    def show(self, number: int) -> dict:
        return json.loads(self.gongdan("tickets", "show", str(number), "--json").output)

    def exported(self) -> list[dict]:
        return [json.loads(line) for line in self.gongdan("export").output.splitlines()]

    def flags(self) -> dict[str, list[str]]:
        """The flags of every stored incoming email, by Message-ID (as `export` shows them)."""
        found = [
            (m["message_id"], m["flags"])
            for t in self.exported()
            for m in t["messages"]
            if m["direction"] == "in"
        ]
        assert len(found) == len(dict(found)), found
        return dict(found)

    def flags_of(self, message_id: str) -> list[str]:
        return self.flags()[message_id]

    def status(self) -> tuple[int, dict]:
        result = self.gongdan("status", "--json")
        return result.exit_code, json.loads(result.stdout)

    # mail out -------------------------------------------------------------------------------------

    def replies(self) -> list[email.message.EmailMessage]:
        """Every reply sent, as the operator's client reads it: what the SMTP server received, or
        the Maildir outbox's files in the order they were written."""
        if self.smtp is not None:
            raws = [m.data for m in self.smtp.messages]
        else:
            new = self.outbox / "new"
            files = list(new.iterdir()) if new.exists() else []
            files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name))
            raws = [f.read_bytes() for f in files]
        return [email.message_from_bytes(raw, policy=policy.default) for raw in raws]

    def replies_to(self, address: str) -> list[email.message.EmailMessage]:
        return [r for r in self.replies() if r["To"] == address]

    # the database ---------------------------------------------------------------------------------

    def rows(self) -> list[Outbox]:
        """The outbox, in the order it was queued."""
        engine = db.open_database(self.url)
        try:
            with db.session(engine) as session:
                rows = list(session.scalars(select(Outbox).order_by(Outbox.id)))
                session.expunge_all()
                return rows
        finally:
            engine.dispose()

    def execute(self, statement) -> None:
        engine = db.open_database(self.url)
        try:
            with engine.begin() as conn:
                conn.execute(statement)
        finally:
            engine.dispose()


def imap_desk(
    tmp_path: Path,
    dovecot,
    user: tuple[str, str],
    smtp,
    database_url: str,
    extra: str = "",
    folder: str = "INBOX",
) -> Desk:
    """A desk on a Dovecot folder, replying over SMTP, with the engineer 小明."""
    return Desk(
        tmp_path,
        database_url,
        imap=(dovecot, user, folder),
        smtp=smtp,
        extra=f"{ENGINEER_TOML}{extra}",
    )
