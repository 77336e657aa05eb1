"""Real Dovecot, PostgreSQL and SMTP servers on loopback for tests (/work/shared/INFRA-NOTES.md)."""

from __future__ import annotations

import glob
import grp
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DOVECOT_BIN = "/usr/sbin/dovecot"
INSTALL_HINT = (
    "run `bash scripts/install-test-servers.sh` as root"
    " (installs dovecot-imapd, dovecot-lmtpd, postfix, postgresql)"
)


class ServerUnavailable(RuntimeError):
    """A server binary or Python package needed for the loopback servers is missing."""


def free_port() -> int:
    """Ask the kernel for a free loopback port (tiny race until the server binds it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    """True once 127.0.0.1:port accepts connections; False on timeout or if proc died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


def wait_port_free(port: int, timeout: float) -> None:
    """Wait until nothing can hold 127.0.0.1:port any more, so a restart can bind it again."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as s:
            # SO_REUSEADDR like the servers use, so TIME_WAIT leftovers do not count as busy.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
        time.sleep(0.05)


def short_tmpdir(prefix: str) -> Path:
    """A fresh folder under /tmp that is short (Unix socket limit) and o+x (Dovecot, postgres
    users)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)  # mkdtemp makes 0700; dropped-privilege processes must traverse it
    return path


def _check_dir(base: Path, max_len: int = 80) -> None:
    """Fail early on the two traps that otherwise show up as stalled logins or socket errors."""
    if len(str(base)) >= max_len:
        raise ValueError(
            f"{base} is {len(str(base))} chars; keep it < {max_len} (108-byte Unix socket paths)"
        )
    for parent in [base, *base.parents]:
        if parent.exists() and not parent.stat().st_mode & 0o001:
            raise PermissionError(
                f"{parent} lacks o+x; dropped-privilege server processes cannot reach {base}"
            )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _waitid_nowait(pid: int, timeout: float) -> None:
    """Wait until child pid has exited without reaping it."""
    deadline = time.monotonic() + timeout
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() > deadline:
            raise TimeoutError(f"pid {pid} still running")
        time.sleep(0.02)


class Dovecot:
    """Private Dovecot (IMAP + LMTP over loopback TCP) living entirely in base_dir."""

    def __init__(self, base_dir: str | os.PathLike):
        self.base = Path(base_dir).absolute()
        self.base.mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o755)
        _check_dir(self.base)
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.lmtp_port: int | None = None
        self.users: dict[str, str] = {}
        self.proc: subprocess.Popen | None = None
        self.log = self.base / "dovecot.log"
        self.stderr = self.base / "dovecot.stderr"
        self.conf = self.base / "dovecot.conf"
        self.passwd = self.base / "users"
        self.passwd.mkdir(exist_ok=True)
        self.passwd.chmod(0o755)
        root = os.geteuid() == 0
        # As root Dovecot refuses uid 0 for mail, so mail belongs to nobody; otherwise to us.
        owner = pwd.getpwnam("nobody") if root else pwd.getpwuid(os.geteuid())
        self.mail_uid, self.mail_gid = owner.pw_uid, owner.pw_gid

    def add_user(self, name: str, password: str) -> None:
        """Add a mailbox user; works while running (one passwd-file per user, see _write_conf)."""
        home = self.base / "mail" / name
        home.mkdir(parents=True, exist_ok=True)
        os.chown(home.parent, self.mail_uid, self.mail_gid)
        os.chown(home, self.mail_uid, self.mail_gid)
        self.users[name] = password
        entry = self.passwd / name
        entry.write_text(f"{name}:{{PLAIN}}{password}:{self.mail_uid}:{self.mail_gid}::{home}::\n")
        entry.chmod(0o644)  # read by the auth process, which runs as the dovecot user

    def _write_conf(self) -> None:
        b = self.base
        extra = anvil_chroot = ""
        if os.geteuid() != 0:
            # Unprivileged: every service runs as us and nothing may chroot.
            anvil_chroot = "\n  chroot ="
            me = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            extra = (
                f"default_internal_user = {me}\ndefault_internal_group = {group}\n"
                f"default_login_user = {me}\n"
                "service imap-login {\n  chroot =\n}\n"
                f"service auth {{\n  user = {me}\n}}\nservice auth-worker {{\n  user = {me}\n}}\n"
            )
        self.conf.write_text(f"""\
# Generated by tests/servers.py; read only by `dovecot -c {self.conf}`.
instance_name = gongdan-test-{b.name}
base_dir = {b}/run
state_dir = {b}/state
log_path = {self.log}
protocols = imap lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
# One file per user: Dovecot rechecks a loaded passwd-file at most once a second, so a user
# appended to a shared file can fail to log in right after add_user(); a new file is read fresh.
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%n {self.passwd}/%n
}}
userdb {{
  driver = passwd-file
  args = username_format=%n {self.passwd}/%n
}}
# Wrong-password tests should not wait: no 2 s failure delay, and no per-IP auth penalty, which
# otherwise delays later logins from 127.0.0.1 by 2, 4, 8 s (client timeouts). Mode 0 on anvil's
# penalty socket is Dovecot's documented way to turn the penalty off.
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}{anvil_chroot}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {self.lmtp_port}
  }}
}}
{extra}""")

    @staticmethod
    def check() -> None:
        """Raise ServerUnavailable if Dovecot (with LMTP) is not installed."""
        for path in (DOVECOT_BIN, "/usr/lib/dovecot/imap", "/usr/lib/dovecot/lmtp"):
            if not os.access(path, os.X_OK):
                raise ServerUnavailable(f"{path} not found; {INSTALL_HINT}")
        try:
            import imapclient  # noqa: F401
        except ImportError as e:
            raise ServerUnavailable("imapclient is not installed; pip install imapclient") from e

    def start(self) -> None:
        self.check()
        while self.port is None or self.port == self.lmtp_port:
            self.port, self.lmtp_port = free_port(), free_port()
        self._write_conf()
        # -F keeps the master in the foreground so we own its pid and can wait on it; its own
        # session makes a process group that also holds the imap/lmtp children, for cleanup.
        # stderr goes to a file: children inherit it, and a pipe would stay open after the master
        # exits.
        for _ in range(50):
            with self.stderr.open("wb") as err:
                self.proc = subprocess.Popen(
                    [DOVECOT_BIN, "-F", "-c", str(self.conf)],
                    start_new_session=True,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            if wait_port(self.port, 10, self.proc) and wait_port(self.lmtp_port, 5, self.proc):
                return
            self.stop(signal.SIGKILL)
            out = _tail(self.stderr, 5) + _tail(self.log, 5)
            # A previous instance's sockets can linger briefly after it exits: retry.
            if "Address already in use" not in out:
                break
            time.sleep(0.1)
        raise RuntimeError(
            f"dovecot did not start on 127.0.0.1:{self.port}:\n"
            f"{_tail(self.stderr)}\n{_tail(self.log)}"
        )

    def stop(self, sig: int = signal.SIGTERM, grace: float = 2.0) -> None:
        """Stop the instance and every process it started; clients see the server go away.

        After SIGTERM the master normally exits in ≈1.1 s but takes 6 s when stopped right after
        start, and its imap processes keep serving clients for seconds after that; so after `grace`
        seconds the whole process group is SIGKILLed. Maildir deliveries are atomic, so this is
        safe.
        """
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                # WNOWAIT keeps the master a zombie so its pid (= our process group id) cannot be
                # reused yet.
                _waitid_nowait(proc.pid, grace)
            except TimeoutError:
                pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()

    def kill(self) -> None:
        """Stop instantly, like a crash."""
        self.stop(signal.SIGKILL)

    def restart(self) -> None:
        """Stop, then start again on the same ports (so clients can reconnect to the same
        address)."""
        self.stop()
        wait_port_free(self.port, 10)
        wait_port_free(self.lmtp_port, 10)
        self.start()

    def client(self, user: str):
        """A logged-in IMAPClient for user (plain text, loopback)."""
        from imapclient import IMAPClient

        c = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        c.login(user, self.users[user])
        return c

    def append(self, user: str, raw: bytes, folder: str = "INBOX", flags: tuple = ()) -> None:
        """Put raw message bytes into user's folder (created if missing), like a mail arriving."""
        c = self.client(user)
        try:
            if folder != "INBOX" and not c.folder_exists(folder):
                c.create_folder(folder)
            c.append(folder, raw, flags=flags)
        finally:
            c.logout()

    def deliver(self, rcpt: str, raw: bytes, sender: str = "sender@example.com") -> None:
        """Deliver through LMTP, as an MTA would; rcpt may be 'user' or 'user@domain'."""
        import smtplib

        if "@" not in rcpt:
            rcpt += "@example.com"  # username_format=%n drops the domain
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=10) as lmtp:
            lmtp.sendmail(sender, [rcpt], raw)

    def cleanup(self) -> None:
        self.kill()  # the data is thrown away, so no need for a graceful stop
        shutil.rmtree(self.base, ignore_errors=True)


def _pg_bindir() -> Path:
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4])
    )
    if not found:
        raise ServerUnavailable(f"no /usr/lib/postgresql/*/bin/initdb; {INSTALL_HINT}")
    return Path(found[-1]).parent


class Postgres:
    """Throwaway PostgreSQL cluster: trust auth, 127.0.0.1, socket in base_dir, durability off."""

    @staticmethod
    def check() -> None:
        """Raise ServerUnavailable if PostgreSQL or psycopg is not installed."""
        _pg_bindir()
        try:
            import psycopg  # noqa: F401
        except ImportError as e:
            raise ServerUnavailable(
                "psycopg is not installed; pip install 'psycopg[binary]'"
            ) from e

    def __init__(self, base_dir: str | os.PathLike):
        self.bindir = _pg_bindir()
        self.base = Path(base_dir).absolute()
        self.base.mkdir(parents=True, exist_ok=True)
        _check_dir(self.base)
        self.data = self.base / "data"
        self.logfile = self.base / "postgres.log"
        self.host = "127.0.0.1"
        self.port: int | None = None
        self.user = "postgres"
        # PostgreSQL refuses to run as root, so as root everything runs as the postgres user.
        self.as_root = os.geteuid() == 0
        if self.as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.base, pw.pw_uid, pw.pw_gid)
        self.base.chmod(0o755)

    def _run(self, *args: str, timeout: float = 60) -> str:
        cmd = [str(a) for a in args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        # cwd=base: postgres cannot chdir into root's cwd and would warn about it.
        res = subprocess.run(cmd, cwd=self.base, capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}{res.stderr}\n"
                f"{_tail(self.logfile)}"
            )
        return res.stdout

    def start(self) -> None:
        if not self.data.exists():
            self._run(
                self.bindir / "initdb",
                "-D",
                self.data,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "-N",
            )
            with (self.data / "postgresql.conf").open("a") as f:
                # Loopback only; durability off because the cluster is thrown away.
                f.write(
                    f"\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.base}'\n"
                    "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                )
        if self.port is None:
            self.port = free_port()
        self._run(
            self.bindir / "pg_ctl",
            "-D",
            self.data,
            "-l",
            self.logfile,
            "-w",
            "-t",
            "30",
            "-o",
            f"-p {self.port}",
            "start",
        )

    def stop(self) -> None:
        if self.data.exists() and (self.data / "postmaster.pid").exists():
            # fast: disconnect clients instead of waiting for them (pooled test connections).
            self._run(self.bindir / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")

    def restart(self) -> None:
        self.stop()
        wait_port_free(self.port, 10)
        self.start()

    def url(self, name: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """Create database name and return its SQLAlchemy URL."""
        self._run(
            self.bindir / "createdb", "-h", self.host, "-p", str(self.port), "-U", "postgres", name
        )
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._run(
            self.bindir / "dropdb",
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "--force",
            "--if-exists",
            name,
        )

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


class _DropLoginDataWarning(logging.Filter):
    """aiosmtpd 1.4 logs a deprecation warning about its own use of Session.login_data on every
    AUTH."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "login_data is deprecated" not in record.getMessage()


_LOGIN_DATA_FILTER = _DropLoginDataWarning()  # one instance, so addFilter() does not stack copies


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes  # raw message bytes exactly as sent after DATA


class SmtpSink:
    """aiosmtpd server on 127.0.0.1 recording every message; can require auth or refuse."""

    @staticmethod
    def check() -> None:
        """Raise ServerUnavailable if aiosmtpd is not installed."""
        try:
            import aiosmtpd  # noqa: F401
        except ImportError as e:
            raise ServerUnavailable("aiosmtpd is not installed; pip install aiosmtpd") from e

    def __init__(
        self,
        require_auth: tuple[str, str] | None = None,
        port: int | None = None,
        smtputf8: bool = True,
    ):
        self.check()
        self.smtputf8 = smtputf8  # offer SMTPUTF8 (RFC 6531) in the EHLO reply
        self.host = "127.0.0.1"
        self.port = port
        self.require_auth = require_auth
        # refuse_with: an SMTP reply such as "451 4.3.0 Try again later" or "550 5.7.1 Denied",
        # returned at refuse_at ("mail", "rcpt" or "data") instead of accepting.
        self.refuse_with: str | None = None
        self.refuse_at = "data"
        self._messages: list[Received] = []
        self._cond = threading.Condition()
        self._controller = None
        self.auth_attempts: list[tuple[str, bool]] = []  # (login, accepted), in order
        self.mail_options: list[tuple[str, ...]] = []  # each MAIL FROM's options, in order
        logging.getLogger("mail.log").addFilter(_LOGIN_DATA_FILTER)

    @property
    def messages(self) -> list[Received]:
        with self._cond:
            return list(self._messages)

    def clear(self) -> None:
        with self._cond:
            self._messages.clear()

    def wait_for(self, count: int, timeout: float = 10) -> list[Received]:
        """Block until at least count messages arrived (for code that sends from another thread)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(f"expected {count} messages, got {len(self._messages)}")
            return list(self._messages)

    def refuse(self, reply: str | None, at: str = "data") -> None:
        """Refuse future mail with reply (e.g. "451 4.3.0 Try later"); None accepts again."""
        assert at in ("mail", "rcpt", "data")
        self.refuse_with, self.refuse_at = reply, at

    def _handler(self):
        sink = self

        class Handler:
            async def handle_MAIL(self, server, session, envelope, address, mail_options):
                if sink.require_auth and not session.authenticated:
                    return "530 5.7.0 Authentication required"
                if sink.refuse_with and sink.refuse_at == "mail":
                    return sink.refuse_with
                envelope.mail_from = address
                envelope.mail_options.extend(mail_options)
                sink.mail_options.append(tuple(mail_options))
                return "250 OK"

            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                if sink.refuse_with and sink.refuse_at == "rcpt":
                    return sink.refuse_with
                envelope.rcpt_tos.append(address)
                envelope.rcpt_options.extend(rcpt_options)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):
                if sink.refuse_with:
                    return sink.refuse_with
                raw = envelope.original_content or envelope.content
                with sink._cond:
                    sink._messages.append(
                        Received(envelope.mail_from, tuple(envelope.rcpt_tos), bytes(raw))
                    )
                    sink._cond.notify_all()
                return "250 OK"

        return Handler()

    def _authenticator(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword

        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = self.require_auth
        ok = auth_data.login == user.encode() and auth_data.password == password.encode()
        self.auth_attempts.append((auth_data.login.decode(errors="replace"), ok))
        # handled=False on rejection: aiosmtpd then answers 535; otherwise the client hangs.
        return AuthResult(success=True) if ok else AuthResult(success=False, handled=False)

    def start(self) -> None:
        from aiosmtpd.controller import Controller

        if self.port is None:
            self.port = free_port()
        kwargs = {}
        if self.require_auth:
            # AUTH without TLS is fine on loopback. handle_MAIL enforces it, because aiosmtpd's
            # auth_required=True without TLS warns on every connection.
            kwargs = dict(authenticator=self._authenticator, auth_require_tls=False)
        deadline = time.monotonic() + 10
        while True:
            controller = Controller(
                self._handler(),
                hostname=self.host,
                port=self.port,
                enable_SMTPUTF8=self.smtputf8,
                ready_timeout=5,
                **kwargs,
            )
            try:
                controller.start()
                break
            except OSError:
                # Port may still be held briefly after stop(); retry until the deadline.
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self._controller = controller

    def stop(self) -> None:
        """Stop listening (connections then get refused); start() reuses the same port."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()


POSTFIX_BIN = "/usr/sbin/postfix"
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def _replace(text: str, old: str, new: str) -> str:
    """`text` with `old` replaced; fails when deploy/ no longer says `old`, so the test never
    silently runs another configuration than the one shipped."""
    if old not in text:
        raise ValueError(f"deploy/ no longer contains {old!r}")
    return text.replace(old, new)


class RecipeDovecot(Dovecot):
    """The test Dovecot with deploy/dovecot/gongdan.conf appended (its LMTP and auth listeners
    moved to free loopback ports), for Postfix to deliver into and check logins with."""

    def __init__(self, base_dir: str | os.PathLike):
        super().__init__(base_dir)
        self.auth_port: int | None = None

    def _write_conf(self) -> None:
        super()._write_conf()
        if self.auth_port in (None, self.port, self.lmtp_port):
            self.auth_port = free_port()
        snippet = (DEPLOY / "dovecot" / "gongdan.conf").read_text()
        snippet = _replace(snippet, "port = 24\n", f"port = {self.lmtp_port}\n")
        snippet = _replace(snippet, "port = 12345\n", f"port = {self.auth_port}\n")
        with self.conf.open("a") as f:
            f.write("\n# deploy/dovecot/gongdan.conf\n" + snippet)

    def start(self) -> None:
        super().start()
        if not wait_port(self.auth_port, 5, self.proc):
            raise RuntimeError(f"dovecot auth did not listen on 127.0.0.1:{self.auth_port}")


class Postfix:
    """Private Postfix configured from deploy/postfix (its own config and queue folders in
    base_dir): the MX and the submission service on free loopback ports, delivering into a
    RecipeDovecot over LMTP and checking logins with its auth service. `domains` are the mail
    domains it holds, `mailboxes` the addresses it accepts; TLS with a fresh self-signed
    certificate for 127.0.0.1 (`cert`, also the CA a client trusts)."""

    LOOPBACK = """\
# Generated by tests/servers.py for `postfix -c {etc}`; deploy/postfix/main.cf follows.
compatibility_level = 3.6
config_directory = {etc}
queue_directory = {base}/spool
data_directory = {base}/data
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.gongdan.example.cn
mydomain = gongdan.example.cn
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
relayhost =
default_transport = error:local only
relay_transport = error:local only
smtp_dns_support_level = disabled
lmtp_dns_support_level = disabled
alias_maps =
alias_database =
maillog_file = {base}/maillog
maillog_file_prefixes = /var, /dev/stdout, {base}
"""

    @staticmethod
    def check() -> None:
        """Raise ServerUnavailable if Postfix is not installed."""
        for path in (POSTFIX_BIN, "/usr/lib/postfix/sbin/smtpd", "/usr/bin/openssl"):
            if not os.access(path, os.X_OK):
                raise ServerUnavailable(f"{path} not found; {INSTALL_HINT}")

    def __init__(
        self,
        base_dir: str | os.PathLike,
        dovecot: RecipeDovecot,
        domains: list[str],
        mailboxes: list[str],
    ):
        self.check()
        self.base = Path(base_dir).absolute()
        self.etc = self.base / "etc"
        self.etc.mkdir(parents=True, exist_ok=True)
        self.base.chmod(0o755)
        self.dovecot, self.domains, self.mailboxes = dovecot, domains, mailboxes
        self.host = "127.0.0.1"
        self.mx_port: int | None = None
        self.submission_port: int | None = None
        self.cert = self.base / "cert.pem"
        self.key = self.base / "key.pem"
        self.log = self.base / "maillog"

    def _postfix(self, *args: str) -> None:
        res = subprocess.run(
            [POSTFIX_BIN, "-c", str(self.etc), *args], capture_output=True, text=True, timeout=60
        )
        if res.returncode != 0:
            raise RuntimeError(
                f"postfix {' '.join(args)} failed ({res.returncode}):\n{res.stdout}{res.stderr}\n"
                f"{_tail(self.log)}"
            )

    def _write_conf(self) -> None:
        src = DEPLOY / "postfix"
        main = src.joinpath("main.cf").read_text()
        main = _replace(main, "127.0.0.1:24\n", f"127.0.0.1:{self.dovecot.lmtp_port}\n")
        main = _replace(main, "127.0.0.1:12345\n", f"127.0.0.1:{self.dovecot.auth_port}\n")
        main = _replace(
            main,
            "virtual_mailbox_domains = gongdan.example.cn\n",
            f"virtual_mailbox_domains = {' '.join(self.domains)}\n",
        )
        main = _replace(main, "/etc/ssl/certs/ssl-cert-snakeoil.pem", str(self.cert))
        main = _replace(main, "/etc/ssl/private/ssl-cert-snakeoil.key", str(self.key))
        loopback = self.LOOPBACK.format(etc=self.etc, base=self.base)
        (self.etc / "main.cf").write_text(loopback + "\n" + main)
        # Debian's master.cf without the services deploy/ replaces, and nothing chrooted.
        services = []
        for line in Path("/etc/postfix/master.cf").read_text().splitlines():
            fields = line.split()
            if line[:1] not in ("", "#", " ", "\t") and len(fields) >= 8:
                if fields[:2] in (["smtp", "inet"], ["pickup", "unix"]):
                    continue
                fields[4] = "n"
                line = " ".join(fields)
            services.append(line)
        master = src.joinpath("master.cf").read_text()
        master = _replace(master, "\nsmtp       inet", f"\n127.0.0.1:{self.mx_port} inet")
        master = _replace(master, "\nsubmission inet", f"\n127.0.0.1:{self.submission_port} inet")
        (self.etc / "master.cf").write_text("\n".join(services) + "\n" + master)
        for table in ("mx_header_checks", "submission_auth_results", "sender_login_maps"):
            shutil.copy(src / table, self.etc / table)
        (self.etc / "gongdan_mailboxes").write_text(
            "".join(f"{address} ok\n" for address in self.mailboxes)
        )

    def _make_cert(self) -> None:
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
                *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
                *("-keyout", str(self.key), "-out", str(self.cert)),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        self.mx_port, self.submission_port = free_port(), free_port()
        while self.submission_port == self.mx_port:
            self.submission_port = free_port()
        self._make_cert()
        self._write_conf()
        (self.base / "spool").mkdir(exist_ok=True)
        (self.base / "data").mkdir(exist_ok=True)
        owner = pwd.getpwnam("postfix")  # its data_directory belongs to it, not to root
        os.chown(self.base / "data", owner.pw_uid, owner.pw_gid)
        self._postfix("post-install", "create-missing")
        self._postfix("start")
        for port in (self.mx_port, self.submission_port):
            if not wait_port(port, 10):
                raise RuntimeError(f"postfix did not listen on 127.0.0.1:{port}\n{_tail(self.log)}")

    def stop(self) -> None:
        if (self.base / "spool" / "pid" / "master.pid").exists():
            subprocess.run(
                [POSTFIX_BIN, "-c", str(self.etc), "abort"], capture_output=True, timeout=30
            )

    def cleanup(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
