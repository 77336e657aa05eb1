"""Fault scenarios for `gongdan poll` against real loopback servers, and the checker that judges
them.

Each scenario builds a fresh desk (its own Dovecot user, its own database, the shared SMTP sink),
delivers mail it generates itself, runs `gongdan poll` while something breaks, then lets the desk
settle (more polls with the outbox made due, as if time had passed) and compares three records:

  mailbox   the Message-IDs the scenario delivered;
  database  the `message` rows with direction 'in', the tickets, the outbox;
  SMTP      what the sink received, grouped by In-Reply-To (and by Message-ID).

    lost             delivered but not stored
    duplicated       stored more than once, plus tickets without any inbound message
                     (a second ticket created for one email)
    replies_doubled  two different replies (different Message-IDs) received for the same email
                     (same In-Reply-To). The same reply received twice (same Message-ID) is
                     allowed: delivery is at least once (SPEC §9), a hand-over cut after DATA
                     began is sent again; such copies are counted in notes (`resent_copies`)
    replies_lost     a stored email whose reply never reached the sink

Every scenario function is `scenario(servers, tmp, size, rng) -> row` (see SCENARIOS); `size` is
"short" (a few seconds each, for pytest) or "full". `rng` is a random.Random: replay a failure with
the seed the bench printed (`python tests/bench/faults.py --seed N --only NAME`).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from email import policy
from email.header import Header
from pathlib import Path

from tests.desk import FROM, Desk
from tests.servers import wait_port_free

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "pw-faults"
COMPLETE = (
    "运营商：星星充电\n订单号：20261124081644614873\n问题描述：扫码后无法启动\n"
    "运营商初步排查结果：已重启，停止原因：34\n手机号：13512348382\n"
)
INCOMPLETE = "运营商：星星充电\n问题描述：3号桩充不上电\n"

# Per size: how much of each fault. "short" keeps each scenario to a few seconds.
SIZES = {
    "short": dict(
        imap_cycles=5,
        dovecot_kills=1,
        smtp_cycles=4,
        timeout_cycles=3,
        restart_cycles=3,
        lock_cycles=3,
        kill_runs=5,
        large_kill_runs=2,
        workers_seconds=8.0,
    ),
    "full": dict(
        imap_cycles=20,
        dovecot_kills=4,
        smtp_cycles=20,
        timeout_cycles=8,
        restart_cycles=10,
        lock_cycles=8,
        kill_runs=20,
        large_kill_runs=6,
        workers_seconds=30.0,
    ),
}
SETTLE_CYCLES = 6
CHILD_TIMEOUT = 120.0

_counter = iter(range(1, 1 << 30))


@dataclass
class Servers:
    dovecot: object  # tests.servers.Dovecot
    postgres: object  # tests.servers.Postgres
    smtp: object  # tests.servers.SmtpSink


# --------------------------------------------------------------------------------------------------
# A desk for one scenario


class ScenarioDesk(Desk):
    """One gongdan deployment for a scenario (tests.desk.Desk on its own Dovecot user and
    database, replying to the shared SMTP sink); remembers what it delivered and ran."""

    def __init__(
        self,
        servers: Servers,
        tmp: Path,
        scenario: str,
        database: str = "sqlite",
        processed_folder: str = "",
    ):
        self.servers, self.scenario = servers, scenario
        n = next(_counter)
        folder = Path(tmp) / f"{scenario}-{n}"
        folder.mkdir(parents=True, exist_ok=True)
        self.dir = folder
        name = f"f{n}{secrets.token_hex(3)}"
        servers.dovecot.add_user(name, PASSWORD)
        self.pg_name = None
        if database == "postgresql":
            self.pg_name = f"faults_{scenario}_{n}_{secrets.token_hex(2)}"
            url = servers.postgres.create_database(self.pg_name)
        else:
            url = f"sqlite:///{folder / 'gongdan.db'}"
        self.sqlite_path = folder / "gongdan.db"
        # In every Message-ID, to pick our mail out of the shared sink.
        self.token = secrets.token_hex(4)
        self.delivered: list[str] = []
        self.attempted: list[str] = []  # delivery raised: the mail may or may not be in the mailbox
        self._lock = threading.Lock()
        self._n = 0
        self.children: list[dict] = []
        self.inprocess: list[dict] = []
        super().__init__(
            folder,
            url,
            imap=(servers.dovecot, (name, PASSWORD), "INBOX"),
            smtp=servers.smtp,
            extra="[desk]\ndaily_reply_limit = 100000\n",
            processed_folder=processed_folder,
        )

    # mail -----------------------------------------------------------------------------------------

    def _next_mail(self) -> tuple[str, bytes]:
        with self._lock:
            self._n += 1
            n = self._n
        message_id = f"<{self.scenario}.{self.token}.{n}@ops.example.cn>"
        body = COMPLETE if n % 2 else INCOMPLETE
        # One sender each: the daily limit never applies.
        sender = f"ops{n}.{self.token}@xingxing.example.cn"
        lines = [
            f"From: {sender}",
            f"To: {FROM}",
            f"Subject: {Header(f'充电桩故障 {n}', 'utf-8').encode()}",
            "Date: Tue, 24 Nov 2026 08:30:00 +0800",
            "MIME-Version: 1.0",
            'Content-Type: text/plain; charset="utf-8"',
            "Content-Transfer-Encoding: 8bit",
            f"Message-ID: {message_id}",
        ]
        raw = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body.replace("\n", "\r\n").encode(
            "utf-8"
        )
        return message_id, raw

    def deliver_new(self, count: int = 1, via: str = "append") -> None:
        for _ in range(count):
            message_id, raw = self._next_mail()
            try:
                if via == "lmtp":
                    self.servers.dovecot.deliver(self.user[0], raw)
                else:
                    self.servers.dovecot.append(self.user[0], raw)
            except Exception:
                with self._lock:
                    self.attempted.append(message_id)
                raise
            with self._lock:
                self.delivered.append(message_id)

    # running gongdan ------------------------------------------------------------------------------

    def cycle(self, *extra: str) -> tuple[int, str]:
        """One `gongdan poll` in this process (so a test can patch the product); (exit code,
        output)."""
        from click.testing import CliRunner

        from ingest.cli.main import cli

        result = CliRunner().invoke(
            cli, ["--config", str(self.config), "poll", "--log-level", "WARNING", *extra]
        )
        output = result.output
        crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
        if crashed:
            import traceback

            output += "".join(traceback.format_exception(result.exception))
        self.inprocess.append({"rc": result.exit_code, "output": output, "crashed": crashed})
        return result.exit_code, output

    def child(self, *extra: str, tag: str = "poll") -> subprocess.Popen:
        """`gongdan poll` as a child process (stdout and stderr to files in the desk folder)."""
        n = len(self.children)
        out, err = self.dir / f"{tag}{n}.out", self.dir / f"{tag}{n}.err"
        with out.open("wb") as fo, err.open("wb") as fe:
            proc = subprocess.Popen(
                [sys.executable, "-m", "ingest", "--config", str(self.config), "poll", *extra],
                env=self.env,
                cwd=self.dir,
                stdout=fo,
                stderr=fe,
                stdin=subprocess.DEVNULL,
            )
        self.children.append({"proc": proc, "out": out, "err": err, "tag": tag, "killed": False})
        return proc

    def kill(self, proc: subprocess.Popen) -> None:
        for entry in self.children:
            if entry["proc"] is proc and proc.poll() is None:
                entry["killed"] = True
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGKILL)
        proc.wait()

    def make_due(self) -> None:
        """Retries back off for minutes; make every pending reply due now, as time would."""
        from sqlalchemy import update

        from ingest.store import db
        from ingest.store.models import Outbox

        engine = db.make_engine(self.url)
        try:
            with engine.begin() as conn:
                conn.execute(
                    update(Outbox.__table__)
                    .where(Outbox.next_attempt_at.is_not(None))
                    .values(next_attempt_at=Outbox.created_at)
                )
        finally:
            engine.dispose()

    def settle(self) -> int | None:
        """Poll until a cycle finds no new mail and sends nothing: the number of polls, None if
        never."""
        for n in range(1, SETTLE_CYCLES + 1):
            self.make_due()
            # At INFO: the cycle's line says what it did (at WARNING a quiet cycle prints nothing).
            code, output = self.cycle("--log-level", "INFO")
            if code == 0 and "no new mail" in output and "0 sent, 0 failed" in output:
                return n
        return None

    def cleanup(self) -> None:
        for entry in self.children:
            if entry["proc"].poll() is None:
                self.kill(entry["proc"])
        if self.pg_name:
            with contextlib.suppress(Exception):
                self.servers.postgres.drop_database(self.pg_name)

    # what the children said -----------------------------------------------------------------------

    def child_summary(self) -> dict:
        """Exit codes and stderr of the children that ran to their end (not SIGKILLed by us)."""
        counts = Counter()
        first_error = None
        for entry in self.children:
            proc = entry["proc"]
            if entry["killed"] or proc.returncode is None:
                continue
            err = entry["err"].read_text("utf-8", "replace")
            if "Traceback" in err:
                counts["tracebacks"] += 1
                first_error = first_error or _describe_traceback(err)
            elif proc.returncode not in (0, -signal.SIGTERM):
                counts["exit_errors"] += 1
                first_error = first_error or _last_line(err)
        for entry in self.inprocess:
            if entry["crashed"]:
                counts["tracebacks"] += 1
                first_error = first_error or _describe_traceback(entry["output"])
            elif entry["rc"] != 0:
                counts["exit_errors"] += 1
        return {"counts": counts, "first_error": first_error}


def wait_progress(
    desk: ScenarioDesk, proc: subprocess.Popen, lines: int, timeout: float = 30.0
) -> bool:
    """Wait until the child has logged `lines` lines (one per stored email, one per sent reply):
    a way to strike at a random point of its work rather than during its 0.6 s start-up.
    False if the child ended first."""
    out = next(e["out"] for e in desk.children if e["proc"] is proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with out.open("rb") as f:
                if f.read().count(b"\n") >= lines:
                    return True
        except OSError:
            pass
        time.sleep(0.003)
    return False


def strike(desk: ScenarioDesk, proc: subprocess.Popen, rng, lines: int) -> str:
    """Wait for a random point of the child's run: mostly after a random number (0..lines) of its
    log lines, plus up to 20 ms; sometimes a plain random delay (start-up, connect, or done)."""
    if rng.random() < 0.2:
        time.sleep(rng.uniform(0.05, 1.2))
        return "delay"
    reached = wait_progress(desk, proc, rng.randint(0, lines))
    time.sleep(rng.uniform(0.0, 0.02))
    return "progress" if reached else "ended"


def _describe_traceback(text: str) -> str:
    """'ExceptionClass: message (at ingest/x.py:N, the innermost gongdan frame)' from a
    traceback."""
    frames = re.findall(
        r'File "' + re.escape(str(ROOT)) + r'/((?:ingest|replies)/[^"]+)", line (\d+)', text
    )
    errors = re.findall(r"^([A-Za-z_][\w.]*(?:Error|Exception|Shutdown)\w*): (.*)$", text, re.M)
    what = (
        f"{errors[-1][0].rsplit('.', 1)[-1]}: {errors[-1][1][:100]}" if errors else _last_line(text)
    )
    return f"{what} (at {frames[-1][0]}:{frames[-1][1]})" if frames else what


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


# --------------------------------------------------------------------------------------------------
# The checker


def check(desk: ScenarioDesk) -> dict:
    """Compare what was delivered with the database and with what the SMTP server received."""
    from sqlalchemy import text

    from ingest.store import db

    engine = db.make_engine(desk.url)
    try:
        with engine.connect() as conn:
            stored = Counter(
                {
                    mid: n
                    for mid, n in conn.execute(
                        text(
                            "SELECT message_id, count(*) FROM message WHERE direction = 'in' "
                            "GROUP BY message_id"
                        )
                    )
                }
            )
            orphan_tickets = conn.execute(
                text(
                    "SELECT count(*) FROM ticket t WHERE NOT EXISTS "
                    "(SELECT 1 FROM message m WHERE m.ticket_id = t.id AND m.direction = 'in')"
                )
            ).scalar_one()
            tickets = conn.execute(text("SELECT count(*) FROM ticket")).scalar_one()
            outbox = conn.execute(
                text(
                    "SELECT o.state, o.last_error, o.next_attempt_at, o.message_id, m.message_id "
                    "FROM outbox o LEFT JOIN message m ON m.id = o.caused_by"
                )
            ).all()
    finally:
        engine.dispose()

    delivered = set(desk.delivered)
    ours = {mid for mid in stored if desk.token in mid}
    lost = len(delivered - set(stored))
    duplicated = sum(n - 1 for n in stored.values() if n > 1) + orphan_tickets

    received = []
    for m in desk.servers.smtp.messages:
        head = email.message_from_bytes(
            m.data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n", policy=policy.default
        )
        in_reply_to = str(head.get("In-Reply-To", "")).strip()
        if desk.token in in_reply_to:
            received.append((in_reply_to, str(head.get("Message-ID", "")).strip()))
    by_cause: dict[str, set[str]] = {}
    for in_reply_to, message_id in received:
        by_cause.setdefault(in_reply_to, set()).add(message_id)
    by_id = Counter(mid for _, mid in received)
    replies_doubled = sum(len(ids) - 1 for ids in by_cause.values())
    resent_copies = sum(n - 1 for n in by_id.values() if n > 1)

    queued = Counter(cause for *_, cause in outbox if cause)
    pending = [(state, error) for state, error, *_ in outbox if state != "sent"]
    replies_lost = len({mid for mid in ours if mid not in by_cause})

    notes = [f"tickets={tickets}", f"replies={len(received)}"]
    if resent_copies:
        notes.append(f"resent_copies={resent_copies}")
    if orphan_tickets:
        notes.append(f"tickets_without_mail={orphan_tickets}")
    if any(n > 1 for n in queued.values()):
        notes.append(f"replies_queued_twice={sum(n - 1 for n in queued.values() if n > 1)}")
    if pending:
        states = Counter(f"{s}:{(e or '')[:60]}" for s, e in pending)
        notes.append("unsent=" + ", ".join(f"{k} x{v}" for k, v in states.items()))
    stray = ours - delivered
    if stray:
        notes.append(f"stored_but_delivery_raised={len(stray)}")
    if desk.processed_folder:
        inbox, processed = _mailbox_counts(desk)
        if inbox:
            notes.append(f"left_in_inbox={inbox}")
        if processed != len(set(desk.delivered) | (set(desk.attempted) & ours)):
            notes.append(f"processed_folder_holds={processed}")
    return {
        "messages": len(delivered),
        "lost": lost,
        "duplicated": duplicated,
        "replies_doubled": replies_doubled,
        "replies_lost": replies_lost,
        "notes": notes,
    }


def _mailbox_counts(desk: ScenarioDesk) -> tuple[int, int]:
    c = desk.servers.dovecot.client(desk.user[0])
    try:
        c.select_folder("INBOX", readonly=True)
        inbox = len(c.search("ALL"))
        processed = 0
        if c.folder_exists(desk.processed_folder):
            c.select_folder(desk.processed_folder, readonly=True)
            processed = len(c.search("ALL"))
    finally:
        c.logout()
    return inbox, processed


def _row(name: str, desk: ScenarioDesk, runs: int, notes: list[str], started: float) -> dict:
    """Settle the desk, run the checker, and make the table row."""
    settled = desk.settle()
    result = check(desk)
    children = desk.child_summary()
    extra = list(notes)
    if settled is None:
        extra.append(
            f"NOT SETTLED after {SETTLE_CYCLES} polls: {_last_line(desk.inprocess[-1]['output'])}"
        )
    else:
        extra.append(f"settled in {settled}")
    for key, value in sorted(children["counts"].items()):
        extra.append(f"{key}={value}")
    if children["first_error"]:
        extra.append(f"first error: {children['first_error']}")
    return {
        "scenario": name,
        "runs": runs,
        **{
            k: result[k]
            for k in ("messages", "lost", "duplicated", "replies_doubled", "replies_lost")
        },
        "notes": "; ".join(result["notes"] + extra),
        "seconds": round(time.monotonic() - started, 1),
    }


# --------------------------------------------------------------------------------------------------
# Faults


class _ImapCutter:
    """Cut the IMAP connection (shutdown of its socket, as a network drop) at chosen operations.

    Operations counted within one poll: the UID searches, every message handed out by fetch, every
    move/flag after a commit. A cut before a fetched message is handed out makes the next FETCH or
    MOVE fail; a cut before mark_processed leaves a stored message in the folder, which the
    reconnect must move (processed_leftovers) without storing it again.
    """

    def __init__(self, at: set[int], batch: int):
        self.at, self.batch, self.n, self.cuts = at, batch, 0, 0

    def tick(self, source) -> None:
        self.n += 1
        client = source._client
        if self.n in self.at and client is not None:
            with contextlib.suppress(OSError):
                client._imap.sock.shutdown(socket.SHUT_RDWR)
            self.cuts += 1

    @contextlib.contextmanager
    def installed(self):
        from ingest.sources.imap import ImapSource

        originals = {
            name: getattr(ImapSource, name)
            for name in ("fetch", "mark_processed", "new_uids", "processed_leftovers")
        }
        cutter = self

        def fetch(self, uids, batch=50):
            for item in originals["fetch"](self, uids, batch=cutter.batch):
                cutter.tick(self)
                yield item

        def wrap(name):
            def method(self, *args, **kwargs):
                cutter.tick(self)
                return originals[name](self, *args, **kwargs)

            return method

        ImapSource.fetch = fetch
        for name in ("mark_processed", "new_uids", "processed_leftovers"):
            setattr(ImapSource, name, wrap(name))
        try:
            yield self
        finally:
            for name, original in originals.items():
                setattr(ImapSource, name, original)


def imap_disconnects(servers: Servers, tmp: Path, size: str, rng) -> dict:
    """Before each cycle a few messages arrive; during it the IMAP connection is cut at random
    points.

    Most cycles run in this process with the socket shut down at 1-2 random operations (sometimes
    4, more than the 3 reconnects a cycle allows, so the cycle fails and the next catches up);
    a few run as a child while Dovecot is SIGKILLed at a random moment and started again.
    """
    started = time.monotonic()
    p = SIZES[size]
    desk = ScenarioDesk(
        servers, tmp, "imap_disconnects", database="postgresql", processed_folder="Processed"
    )
    try:
        cycles, cuts, failed = p["imap_cycles"], 0, 0
        kill_cycles = set(rng.sample(range(cycles), p["dovecot_kills"]))
        for cycle in range(cycles):
            if cycle in kill_cycles:
                count = rng.randint(15, 30)  # ≈ 10 ms each: time to kill Dovecot in the middle
                desk.deliver_new(count)
                proc = desk.child(tag="dckill")
                strike(desk, proc, rng, count // 2)  # while it still talks IMAP
                servers.dovecot.kill()
                time.sleep(rng.uniform(0.1, 0.6))
                wait_port_free(servers.dovecot.port, 10)
                servers.dovecot.start()
                proc.wait(CHILD_TIMEOUT)
                failed += proc.returncode != 0
                continue
            count = rng.randint(2, 6)
            desk.deliver_new(count)
            ops = 2 + 2 * count
            k = 4 if (size == "full" and rng.random() < 0.15) else rng.choice((1, 1, 2))
            cutter = _ImapCutter(set(rng.sample(range(1, ops + 1), k)), batch=rng.randint(1, 4))
            with cutter.installed():
                code, _ = desk.cycle()
            cuts += cutter.cuts
            failed += code != 0
        said = [e["output"] for e in desk.inprocess] + [
            e["out"].read_text("utf-8", "replace") for e in desk.children
        ]
        reconnects = sum(text.count("; reconnecting") for text in said)
        return _row(
            "imap_disconnects",
            desk,
            cycles,
            [
                f"cuts={cuts}",
                f"dovecot_kills={len(kill_cycles)}",
                f"reconnects={reconnects}",
                f"cycles_failed={failed}",
            ],
            started,
        )
    finally:
        desk.cleanup()


def _smtp_cycles(name: str, servers: Servers, tmp: Path, size: str, rng, fault) -> dict:
    started = time.monotonic()
    desk = ScenarioDesk(servers, tmp, name)
    sink = servers.smtp
    cycles = SIZES[size]["smtp_cycles"]
    faulty = 0
    try:
        for cycle in range(cycles):
            desk.deliver_new(rng.randint(2, 5))
            desk.make_due()
            # Faults in the first cycles only for sure, then at random; the last cycle is healthy.
            broken = cycle < cycles - 1 and (cycle == 0 or rng.random() < 0.5)
            if broken:
                faulty += 1
                with fault(rng):
                    desk.cycle()
            else:
                desk.cycle()
        return _row(name, desk, cycles, [f"faulty_cycles={faulty}"], started)
    finally:
        sink.refuse(None)
        if sink._controller is None:
            sink.start()
        desk.cleanup()


def smtp_refusing(servers: Servers, tmp: Path, size: str, rng) -> dict:
    """The sink answers 451 at MAIL, RCPT or end of DATA for some cycles, then accepts."""

    @contextlib.contextmanager
    def refusing(rng):
        servers.smtp.refuse("451 4.3.0 Try again later", at=rng.choice(("mail", "rcpt", "data")))
        try:
            yield
        finally:
            servers.smtp.refuse(None)

    return _smtp_cycles("smtp_refusing", servers, tmp, size, rng, refusing)


def smtp_down(servers: Servers, tmp: Path, size: str, rng) -> dict:
    """The sink is stopped (connection refused) for some cycles, then back on the same port."""

    @contextlib.contextmanager
    def down(rng):
        servers.smtp.stop()
        try:
            yield
        finally:
            servers.smtp.start()

    return _smtp_cycles("smtp_down", servers, tmp, size, rng, down)


@contextlib.contextmanager
def _slow_data_reply(sink, delay: float):
    """The sink takes the message, then answers the end of DATA only after `delay` seconds."""
    handler = sink._controller.handler
    original = handler.handle_DATA

    async def slow(server, session, envelope):
        result = await original(server, session, envelope)
        await asyncio.sleep(delay)
        return result

    handler.handle_DATA = slow  # read by every new SMTP connection
    try:
        yield
    finally:
        del handler.handle_DATA


@contextlib.contextmanager
def _client_timeout(seconds: float):
    """The product's SMTP timeout (30 s) shortened, so a test can outwait it in a second."""
    from replies.smtp import SmtpSender

    defaults = SmtpSender.__init__.__defaults__
    SmtpSender.__init__.__defaults__ = (seconds,)
    try:
        yield
    finally:
        SmtpSender.__init__.__defaults__ = defaults


def smtp_timeout(servers: Servers, tmp: Path, size: str, rng) -> dict:
    """Some cycles the server accepts the message but its reply to DATA comes after the client's
    timeout (a slow content filter, a dropped link): the client cannot know whether it arrived.
    Run in this process with the client's 30 s timeout shortened to 0.5 s and a 1 s late reply.
    """
    started = time.monotonic()
    desk = ScenarioDesk(servers, tmp, "smtp_timeout")
    cycles = SIZES[size]["timeout_cycles"]
    slow = 0
    try:
        with _client_timeout(0.5):
            for cycle in range(cycles):
                desk.deliver_new(rng.randint(1, 2))
                desk.make_due()
                if cycle < cycles - 1 and (cycle == 0 or rng.random() < 0.5):
                    slow += 1
                    with _slow_data_reply(servers.smtp, 1.0):
                        desk.cycle()
                else:
                    desk.cycle()
            return _row("smtp_timeout", desk, cycles, [f"slow_cycles={slow}"], started)
    finally:
        desk.cleanup()


def database_restarted(servers: Servers, tmp: Path, size: str, rng) -> dict:
    """PostgreSQL restarted while a `gongdan poll` child runs, a `poll --loop` worker running
    throughout."""
    started = time.monotonic()
    desk = ScenarioDesk(servers, tmp, "database_restarted", database="postgresql")
    cycles = SIZES[size]["restart_cycles"]
    try:
        loop = desk.child("--loop", "--interval", "1", tag="loop")
        for _ in range(cycles):
            count = rng.randint(5, 15)
            desk.deliver_new(count)
            proc = desk.child()
            strike(desk, proc, rng, 2 * count)  # a line per stored email, then per sent reply
            servers.postgres.restart()
            proc.wait(CHILD_TIMEOUT)
        time.sleep(1.5)  # let the loop worker notice the last restart
        loop_died = loop.poll() is not None
        notes = []
        if loop_died:
            err = desk.children[0]["err"].read_text("utf-8", "replace")
            notes.append(
                f"poll --loop worker DIED (exit {loop.returncode}): {_describe_traceback(err)}"
            )
        else:
            loop.send_signal(signal.SIGTERM)
            loop.wait(CHILD_TIMEOUT)
            notes.append("poll --loop worker survived")
        return _row("database_restarted", desk, cycles, notes, started)
    finally:
        desk.cleanup()


def database_locked(servers: Servers, tmp: Path, size: str, rng) -> dict:
    """SQLite: another connection holds BEGIN EXCLUSIVE for 0.5-2 s while a `gongdan poll` child
    runs."""
    started = time.monotonic()
    desk = ScenarioDesk(servers, tmp, "database_locked")
    cycles = SIZES[size]["lock_cycles"]
    held = 0.0
    try:
        for _ in range(cycles):
            count = rng.randint(5, 15)
            desk.deliver_new(count)
            proc = desk.child()
            strike(desk, proc, rng, 2 * count)  # a line per stored email, then per sent reply
            conn = sqlite3.connect(desk.sqlite_path, timeout=30, isolation_level=None)
            try:
                conn.execute("BEGIN EXCLUSIVE")
                hold = rng.uniform(0.5, 2.0)
                time.sleep(hold)
                held += hold
                conn.execute("ROLLBACK")
            finally:
                conn.close()
            proc.wait(CHILD_TIMEOUT)
        return _row("database_locked", desk, cycles, [f"locked_for={held:.1f}s"], started)
    finally:
        desk.cleanup()


def sigkill(servers: Servers, tmp: Path, size: str, rng) -> dict:
    """A `gongdan poll` child SIGKILLed at a random delay; mail arrives between runs."""
    started = time.monotonic()
    desk = ScenarioDesk(servers, tmp, "sigkill", processed_folder="Processed")
    runs = SIZES[size]["kill_runs"]
    finished = 0
    try:
        for _ in range(runs):
            count = rng.randint(3, 12)
            desk.deliver_new(count)
            proc = desk.child()
            strike(desk, proc, rng, 2 * count)  # a line per stored email, then per sent reply
            finished += proc.poll() is not None
            desk.kill(proc)
        return _row("sigkill", desk, runs, [f"finished_before_kill={finished}"], started)
    finally:
        desk.cleanup()


def sigkill_large(servers: Servers, tmp: Path, size: str, rng) -> dict:
    """Large polls (several batches, the next read ahead by a helper process) SIGKILLed at a random
    point, often while sending; the next run sends again what was in hand."""
    started = time.monotonic()
    desk = ScenarioDesk(servers, tmp, "sigkill_large")
    runs = SIZES[size]["large_kill_runs"]
    finished = 0
    try:
        for _ in range(runs):
            count = rng.randint(120, 240)
            desk.deliver_new(count)
            proc = desk.child()
            strike(desk, proc, rng, 2 * count)
            finished += proc.poll() is not None
            desk.kill(proc)
        return _row("sigkill_large", desk, runs, [f"finished_before_kill={finished}"], started)
    finally:
        desk.cleanup()


def two_workers(servers: Servers, tmp: Path, size: str, rng) -> dict:
    """Two `gongdan poll --loop --interval 1` on one PostgreSQL database and one mailbox, while mail
    keeps arriving over LMTP; then SIGTERM both, settle, check."""
    started = time.monotonic()
    desk = ScenarioDesk(
        servers, tmp, "two_workers", database="postgresql", processed_folder="Processed"
    )
    seconds = SIZES[size]["workers_seconds"]
    stop = threading.Event()
    errors: list[str] = []
    delays = [rng.uniform(0.02, 0.3) for _ in range(10000)]

    def arrive() -> None:
        for delay in delays:
            if stop.is_set():
                return
            try:
                desk.deliver_new(1, via="lmtp")
            except Exception as exc:  # counted in notes; the mail may or may not be there
                errors.append(f"{type(exc).__name__}: {exc}")
            stop.wait(delay)

    try:
        workers = [desk.child("--loop", "--interval", "1", tag=f"worker{i}") for i in range(2)]
        thread = threading.Thread(target=arrive, daemon=True)
        thread.start()
        time.sleep(seconds)
        stop.set()
        thread.join(30)
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGTERM)
        codes = [w.wait(CHILD_TIMEOUT) for w in workers]
        cycles = [
            entry["out"].read_text("utf-8", "replace").count("outbox:") for entry in desk.children
        ]
        notes = [f"worker_cycles={'+'.join(map(str, cycles))}", f"exit={codes}"]
        if errors:
            notes.append(f"delivery_errors={len(errors)} ({errors[0][:80]})")
        return _row("two_workers", desk, 2, notes, started)
    finally:
        stop.set()
        desk.cleanup()


SCENARIOS = {
    "imap_disconnects": imap_disconnects,
    "smtp_refusing": smtp_refusing,
    "smtp_down": smtp_down,
    "smtp_timeout": smtp_timeout,
    "database_restarted": database_restarted,
    "database_locked": database_locked,
    "sigkill": sigkill,
    "sigkill_large": sigkill_large,
    "two_workers": two_workers,
}
COUNTED = ("lost", "duplicated", "replies_doubled", "replies_lost")


def run_scenario(name: str, servers: Servers, tmp: Path, size: str, seed: int) -> dict:
    """One scenario with its own random stream (so `--only NAME --seed N` replays it alone)."""
    import random

    rng = random.Random(f"{seed}:{name}")
    return SCENARIOS[name](servers, Path(tmp), size, rng)


def failures(row: dict) -> int:
    return sum(row[k] for k in COUNTED)


COLUMNS = (
    "scenario",
    "runs",
    "messages",
    "lost",
    "duplicated",
    "replies_doubled",
    "replies_lost",
    "seconds",
)


def format_table(rows: list[dict]) -> str:
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS}
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS) + "  notes"]
    for r in rows:
        lines.append("  ".join(str(r[c]).ljust(widths[c]) for c in COLUMNS) + "  " + r["notes"])
    return "\n".join(lines)
