"""Benchmark: every command of the desk as a whole process on a database with a long history.

    python tests/bench/bench_history.py --tickets 100000                 # SQLite
    python tests/bench/bench_history.py --tickets 2000 --database both --json
    python tests/bench/bench_history.py --tickets 20000 --database postgresql --new 1000
    python tests/bench/bench_history.py --tickets 1000000 --database postgresql \
        --skip export --skip "list --all (pipe)" --skip "list --all --json"

For each database (SQLite in a temporary folder, or a throwaway PostgreSQL cluster on
127.0.0.1 from tests.servers.Postgres) it runs `gongdan db upgrade` as a child, then fills a
history of --tickets N tickets with SQLAlchemy Core executemany in batches (fixed seed):
created over the year before the fixed time T (--now), about four messages each (the
operator's mail, our ack or request for information as an outbox row and a stored outgoing
message, the engineer's answer, the operator's follow-up, the resolved notice), their events
(field_set, completed, assigned, note, status_changed), stop codes on a third of them. Old
tickets are mostly resolved, recent ones open; on-hold tickets carry their reminder and
notice. A share of tickets (--due-share, default 1%) asked the operator for information
3 days before T and had no reminder yet, so `remind` has work. PostgreSQL's statistics are
refreshed after the fill (as autovacuum would have done over a year) and its id sequences
moved past the filled rows.

Then it times, each as a child `python -m ingest --config gongdan.toml ...` (wall seconds
with time.perf_counter, user + system seconds and peak memory from os.wait4's rusage, in MB
of 10^6 bytes), in this order:

  start-up     `--help`: the interpreter and the CLI's imports alone (best of 3: the baseline)
  remind       `remind --now T` (before the poll: a poll runs the same follow-up step itself)
  digest       `digest --now T --out digest.html` (queued and written to the Maildir outbox)
  poll         `poll --now T --log-level WARNING`: --new generated ticket mails
               (bench_parse.build_corpus) from a local Maildir inbox, replies to a Maildir outbox
  stats        `stats --now T`, and `stats --month 2024-09 --by engineer` (the monthly review)
  list         `tickets list`
  list --json  `tickets list --json`
  list --all   `tickets list --all --limit 100000000` and `tickets list --all --json`: every
               ticket of the history, streamed (the plain list shows the 50 oldest open ones)
  show         `tickets show K`, K the ticket in the middle of the history
  export       `export` (its lines counted; nothing written)

Each figure is printed with its ratio to the start-up baseline and the target of issue 22,
which holds at 100,000 tickets: tickets list <= 1.5 s and <= 150 MB, tickets list --json
<= 3 s, export <= 150 MB, show and stats <= 1.5 s, remind and digest <= 2 s; the list --all
rows are held to the list's memory alone (the times are the default list's). Read-only
commands can be run --repeat times (the best time and its peak are kept); remind, digest and
poll change the database and run once. Each command is forked by a bare launcher interpreter
(LAUNCHER), not by this script: Linux's ru_maxrss of a child includes the memory of the process
it was forked from, so a child of a big parent reports the parent's peak. The filling, the
counts and the mail generation run in helper processes (--child) for the same reason.
This file is a script, not a test: pytest collects only test_*.py files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))
# Nothing heavy is imported at the top: the filling, the counts and the mail generation run in
# helper processes (--child), so that this process stays small. Linux's ru_maxrss of a child
# counts the memory of the process it was forked from, up to its exec: a parent that had
# imported SQLAlchemy and filled a database would lend every measured command its own peak.

SEED = 20240930  # the history's seed; the poll's mails use SEED + 1
NOW = "2024-09-30T09:00:00+08:00"  # T: after every date build_corpus writes (2024-05 to 2024-09)
BATCH = 1000  # tickets per round of executemany statements
OUR_ADDRESS = "support@gongdan.example.cn"
ENGINEERS = [
    ("小明", "xiaoming@gongdan.example.cn"),
    ("小红", "xiaohong@gongdan.example.cn"),
    ("老王", "laowang@gongdan.example.cn"),
]
MB = 1_000_000

# (name shown, argv after --config, target seconds, target MB, runs once: it changes the data)
COMMANDS = [
    ("remind", ["remind", "--now", NOW], 2.0, None, True),
    ("digest", ["digest", "--now", NOW, "--out", "digest.html"], 2.0, None, True),
    ("poll", ["poll", "--now", NOW, "--log-level", "WARNING"], None, None, True),
    ("stats", ["stats", "--now", NOW], 1.5, None, False),
    (
        "stats --month --by engineer",
        ["stats", "--now", NOW, "--month", "2024-09", "--by", "engineer"],
        1.5,
        None,
        False,
    ),
    ("tickets list", ["tickets", "list"], 1.5, 150, False),
    ("tickets list --json", ["tickets", "list", "--json"], 3.0, None, False),
    # Every ticket of the history, streamed: into a pipe, and as JSON lines. Issue 22's times are
    # the default list's (open tickets, 50 rows); streamed, all of them keep to its memory.
    ("list --all (pipe)", ["tickets", "list", "--all", "--limit", "100000000"], None, 150, False),
    ("list --all --json", ["tickets", "list", "--all", "--json"], None, 150, False),
    ("tickets show K", ["tickets", "show", "{K}"], 1.5, None, False),
    ("export", ["export"], None, 150, False),
]
# The read-only commands --skip may leave out; remind, digest and poll always run (the checks
# read what they did).
SKIPPABLE = [name for name, *_, once in COMMANDS if not once]


# --------------------------------------------------------------------------------------------
# The history


def _stop_codes() -> list[tuple[int, str]]:
    """(code, meaning) of the Sinexcel table, the default vendor's."""
    table = tomllib.loads((ROOT / "ingest/data/stopcodes/sinexcel.toml").read_text("utf-8"))
    pairs = []
    for row in table["code"]:
        codes = row.get("codes") or range(row["from"], row["to"] + 1)
        pairs += [(int(c), row["meaning"]) for c in codes]
    return pairs


def _raw(mid: str, sender: str, to: str, subject: str, at: datetime, body: str) -> bytes:
    head = (
        f"Date: {at.astimezone(UTC):%a, %d %b %Y %H:%M:%S} +0000\r\nMessage-ID: {mid}\r\n"
        f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    )
    return head.encode() + body.replace("\n", "\r\n").encode("utf-8")


class _Rows:
    """The rows of one batch, each table's dicts with one set of keys, and the ids given."""

    def __init__(self, tables, next_ids: dict):
        self.tables = tables
        self.rows = {name: [] for name in tables}
        self.ids = next_ids
        # Every column, every row: executemany needs one shape (JSON NOT NULL ones are given).
        self.blank = {name: {c.name: None for c in t.columns} for name, t in tables.items()}

    def add(self, name: str, **values) -> int:
        row_id = self.ids[name]
        self.ids[name] += 1
        self.rows[name].append({**self.blank[name], "id": row_id, **values})
        return row_id

    def flush(self, conn) -> None:
        from sqlalchemy import insert

        for name in ("ticket", "message", "outbox", "ticketevent", "stopcodehit"):
            if self.rows[name]:
                conn.execute(insert(self.tables[name]), self.rows[name])
            self.rows[name] = []


def _ticket_story(rng: random.Random, now: datetime, created: datetime, due: bool) -> dict:
    """Where a ticket created at `created` stands at `now`: its status and its steps."""
    age = now - created
    if due:
        return {"status": "waiting_info", "asked": True}
    r = rng.random()
    if age < timedelta(days=2):
        status = "waiting_info" if r < 0.35 else "in_progress" if r < 0.8 else "resolved"
    elif age < timedelta(days=30):
        status = (
            "on_hold"
            if r < 0.1 and age > timedelta(days=8)
            else ("in_progress" if r < 0.45 else "resolved")
        )
    else:
        status = "on_hold" if r < 0.04 else "in_progress" if r < 0.1 else "resolved"
    # An incomplete first mail is asked for more; later complete ones were asked before too.
    asked = status in ("waiting_info", "on_hold") or rng.random() < 0.3
    return {"status": status, "asked": asked}


FILLER = ("现场已重启充电桩，问题依旧，请协助排查。\n" * 12).rstrip()  # ~0.7 KB of body text


class _Thread:
    """One ticket's messages (ours with their sent outbox rows) and events, into `rows`."""

    def __init__(self, rows: _Rows, rng: random.Random, ticket_id: int, subject: str, sender: str):
        self.rows, self.rng, self.t, self.subject = rows, rng, ticket_id, subject
        self.domain = sender.split("@")[1]
        self.ids: list[str] = []  # the Message-IDs so far: what a reply refers to

    def mail(self, at, sender, to, direction, kind="", caused_by=None, body=FILLER) -> int:
        """A stored message (and, for ours, its sent outbox row); its id."""
        t, k = self.t, len(self.ids)
        if direction == "out":
            mid = f"<gongdan.{kind}.{t}.{k}@gongdan.example.cn>"
            subject = f"回复: {self.subject} [工单#{t}]"
        else:
            mid = f"<{at:%Y%m%d%H%M%S}.{t}.{k}.{self.rng.getrandbits(32):08x}@{self.domain}>"
            subject = self.subject if k == 0 else f"回复: {self.subject} [工单#{t}]"
        raw = _raw(mid, sender, to, subject, at, body)
        message_db_id = self.rows.add(
            "message",
            ticket_id=t,
            message_id=mid,
            in_reply_to=self.ids[-1] if self.ids else "",
            references=self.ids[-3:],
            from_address=sender,
            to_addresses=[to],
            subject=subject,
            date=at,
            text=body,
            raw=raw,
            raw_sha256=hashlib.sha256(raw).hexdigest(),
            size=len(raw),
            mailbox="" if direction == "out" else "support",
            direction=direction,
            auto_submitted=direction == "out",
            flags=[kind] if direction == "out" else [],
            received_at=at + timedelta(seconds=30 if direction == "in" else 0),
            sent_at=at,
        )
        self.ids.append(mid)
        if direction == "out":
            self.rows.add(
                "outbox",
                ticket_id=t,
                caused_by=caused_by,
                kind=kind,
                message_id=mid,
                recipient=to,
                to_addresses=[to],
                raw=raw,
                state="sent",
                attempts=1,
                created_at=at,
                sent_at=at + timedelta(seconds=2),
            )
        return message_db_id

    def event(self, at, kind, by, **detail) -> None:
        self.rows.add("ticketevent", ticket_id=self.t, at=at, kind=kind, by=by, detail=detail)


def _write_ticket(rows, rng, t, created, due, now, addresses, codes) -> str:
    """Ticket `t`'s row, thread, outbox rows, events and stop codes as of `now`; its status."""
    from bench_parse import REPLY_TEXTS, STATIONS, _order_no, _phone

    story = _ticket_story(rng, now, created, due)
    status = story["status"]
    operator, sender = rng.choice(addresses)
    engineer, engineer_address = rng.choice(ENGINEERS)
    station = rng.choice(STATIONS)
    description = rng.choice(["充不上电", "异常扣费", "充电中途停止", "订单未结算"])
    fields = {
        "operator": operator,
        "station": station,
        "phone": _phone(rng),
        "order_no": _order_no(rng) if rng.random() < 0.7 else None,
        "pile_no": f"3501040008{rng.randrange(10**10):010d}",
        "description": description,
        "operator_findings": rng.choice(REPLY_TEXTS),
    }
    missing = ["operator_findings"] if story["asked"] else []
    thread = _Thread(rows, rng, t, f"{station}{description}", sender)
    first = thread.mail(created, sender, OUR_ADDRESS, "in", body=f"{description}\n{FILLER}")
    if rng.random() < 0.35:
        for _ in range(rng.choice([1, 1, 2])):
            code, meaning = rng.choice(codes)
            rows.add(
                "stopcodehit",
                ticket_id=t,
                message_db_id=first,
                vendor="sinexcel",
                code=code,
                meaning=meaning,
                known=True,
            )
    at = updated = created + timedelta(minutes=1)
    thread.mail(at, OUR_ADDRESS, sender, "out", "request_info" if story["asked"] else "ack", first)
    if status == "on_hold":  # reminded after 2 days, on hold after 7
        thread.mail(at + timedelta(days=2), OUR_ADDRESS, sender, "out", "reminder", first)
        updated = at + timedelta(days=7)
        thread.mail(updated, OUR_ADDRESS, sender, "out", "hold_notice", first)
        thread.event(
            updated,
            "status_changed",
            "gongdan",
            old="waiting_info",
            new="on_hold",
            reason="no answer from the operator for 7d",
            request=f"<gongdan.request_info.{t}.1@gongdan.example.cn>",
            notice="queued",
        )
    elif status != "waiting_info":
        span = max(60, int((now - at).total_seconds()))
        if story["asked"]:  # the operator answered what was missing
            at += timedelta(seconds=rng.randrange(30, max(31, min(span // 2, 86400))))
            thread.mail(
                at, sender, OUR_ADDRESS, "in", body=f"排查情况：{fields['operator_findings']}"
            )
            thread.event(at, "field_set", sender, field="operator_findings", old=None, new="…")
            thread.event(at, "completed", sender)
            missing = []
            span = max(60, int((now - at).total_seconds()))
        at += timedelta(seconds=rng.randrange(30, max(31, min(span // 2, 2 * 86400))))
        thread.mail(at, engineer_address, OUR_ADDRESS, "in", body="已安排处理，请稍候。")
        thread.event(at, "assigned", engineer_address, old=None, new=engineer)
        updated = at
        span = max(60, int((now - at).total_seconds()))
        if status == "in_progress" and rng.random() < 0.6:
            updated = at = at + timedelta(seconds=rng.randrange(30, max(31, span)))
            thread.mail(at, sender, OUR_ADDRESS, "in", body="请问进展如何？")
        elif status == "resolved":
            updated = at = at + timedelta(seconds=rng.randrange(30, max(31, min(span, 5 * 86400))))
            thread.event(at, "note", engineer_address, field="analysis", text="桩端通信模块故障")
            thread.event(at, "status_changed", engineer_address, old="in_progress", new="resolved")
            thread.mail(at, OUR_ADDRESS, sender, "out", "resolved_notice", first)
    rows.add(
        "ticket",
        subject=thread.subject,
        template="simple",
        status=status,
        engineer=None if status in ("waiting_info", "on_hold") else engineer,
        operator_address=sender,
        thread_addresses=[sender],
        **fields,
        analysis="桩端通信模块故障" if status == "resolved" else None,
        resolution="已远程升级固件" if status == "resolved" else None,
        missing=missing,
        invalid={},
        complete=not missing,
        waiting_on={"waiting_info": "operator", "in_progress": "team"}.get(status),
        related=[],
        closed_reason=None,
        created_at=created,
        updated_at=updated,
    )
    return status


def fill_history(url: str, n: int, now: datetime, seed: int, due_share: float) -> dict:
    """Fill a database at the newest revision with `n` tickets' history before `now`;
    the counts of what was written."""
    from bench_parse import DOMAINS, OPERATORS
    from sqlalchemy import func, select, text

    from ingest.store import db
    from ingest.store.models import Message, Outbox, StopCodeHit, Ticket, TicketEvent

    rng = random.Random(seed)
    codes = _stop_codes()
    year = 365 * 86400
    stamps = []
    for _ in range(n):
        if rng.random() < due_share:  # asked 3 days ago (+ up to 6 h): a reminder is due
            stamps.append((now - timedelta(days=3, seconds=rng.randrange(6 * 3600)), True))
        else:
            stamps.append((now - timedelta(seconds=rng.randrange(60, year)), False))
    stamps.sort()  # ticket numbers rise with time, as they do at the desk
    addresses = [
        (op, f"{name_i}{k}@{DOMAINS[i % len(DOMAINS)]}")
        for i, op in enumerate(OPERATORS)
        for k, name_i in enumerate(["ops", "yunwei", "kefu"] * 10)
    ]  # 300 operator mailboxes, each naming its operator
    tables = {
        "ticket": Ticket.__table__,
        "message": Message.__table__,
        "outbox": Outbox.__table__,
        "ticketevent": TicketEvent.__table__,
        "stopcodehit": StopCodeHit.__table__,
    }
    rows = _Rows(tables, dict.fromkeys(tables, 1))
    engine = db.make_engine(url)
    counts = {"tickets": n, "due": 0, "statuses": {}}
    with engine.begin() as conn:
        for t, (created, due) in enumerate(stamps, 1):
            status = _write_ticket(rows, rng, t, created, due, now, addresses, codes)
            counts["due"] += due
            counts["statuses"][status] = counts["statuses"].get(status, 0) + 1
            if t % BATCH == 0:
                rows.flush(conn)
        rows.flush(conn)
        if conn.dialect.name == "postgresql":
            for name in tables:  # the rows were given ids: the sequences must move past them
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                        f"(SELECT max(id) FROM {name}))"
                    )
                )
        db.analyze(conn)  # a year-old database has been analyzed by autovacuum long since
        for name, model in (("messages", Message), ("outbox", Outbox), ("events", TicketEvent)):
            counts[name] = conn.execute(select(func.count()).select_from(model)).scalar()
        counts["stop_code_hits"] = conn.execute(
            select(func.count()).select_from(StopCodeHit)
        ).scalar()
    engine.dispose()
    return counts


def database_counts(url: str) -> dict:
    from sqlalchemy import func, select

    from ingest.store import db
    from ingest.store.models import Message, Outbox, Ticket

    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            one = conn.execute
            return {
                "tickets": one(select(func.count()).select_from(Ticket)).scalar(),
                "messages_in": one(
                    select(func.count()).select_from(Message).where(Message.direction == "in")
                ).scalar(),
                "outbox": one(select(func.count()).select_from(Outbox)).scalar(),
                "outbox_unsent": one(
                    select(func.count()).select_from(Outbox).where(Outbox.state != "sent")
                ).scalar(),
            }
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# The children


def fill_inbox(maildir: Path, new: int, seed: int) -> None:
    """`new` generated ticket mails in maildir/new, named in the order they were made."""
    from bench_parse import build_corpus

    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    corpus, _ = build_corpus(new, seed=seed)
    for i, raw in enumerate(corpus):
        (maildir / "new" / f"{1_727_000_000 + i}.M{i:06d}P1.gdbench").write_bytes(raw)


def write_config(work: Path, url: str) -> Path:
    config = work / "gongdan.toml"
    engineers = "".join(
        f'[[engineer]]\nname = "{name}"\naddress = "{address}"\n\n' for name, address in ENGINEERS
    )
    config.write_text(
        f"""\
[database]
url = "{url}"

[[mailbox]]
name = "support"
kind = "maildir"
path = "{work / "inbox"}"

[outgoing]
kind = "maildir"
path = "{work / "outbox"}"
from_address = "{OUR_ADDRESS}"

{engineers}[digest]
recipients = ["aftersales@gongdan.example.cn"]
""",
        "utf-8",
    )
    return config


# The process that starts each measured command: a bare interpreter (-I -S, a few MB) forks it
# and reads its os.wait4 rusage. Linux gives a child the peak memory of the process it was
# forked from (up to its exec), so the command must not be forked from this script's process.
LAUNCHER = """
import json, os, sys, time
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
with open(sys.argv[1], "w") as f:
    json.dump({"s": seconds, "rc": os.waitstatus_to_exitcode(status), "kib": usage.ru_maxrss,
               "cpu_s": usage.ru_utime + usage.ru_stime}, f)
"""


def launched(argv: list[str], work: Path, said: bool = False) -> dict:
    """Wall and cpu seconds, peak MB, stdout lines and exit status of the process `argv`
    (started by LAUNCHER); with `said`, also its stdout lines that are not log lines."""
    usage_file = work / "child.usage"
    with open(work / "child.stderr", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", LAUNCHER, str(usage_file), *argv],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=work,
        )
        lines, kept = 0, []
        while chunk := proc.stdout.read(1 << 20):
            lines += chunk.count(b"\n")
            if said:
                kept.append(chunk)
        proc.wait()
    usage = json.loads(usage_file.read_text())
    result = {
        "s": usage["s"],
        "cpu_s": usage["cpu_s"],
        "mb": usage["kib"] * 1024 / MB,
        "lines": lines,
        "rc": usage["rc"],
        "said": [
            line[:240]
            for line in b"".join(kept).decode("utf-8", "replace").splitlines()
            if not re.match(r"\d{4}-\d\d-\d\d ", line)  # a log line's time
        ],
    }
    if usage["rc"] != 0:
        result["stderr"] = (work / "child.stderr").read_text("utf-8", "replace")[-2000:]
    return result


def timed_child(args: list[str], config: Path, work: Path, said: bool = False) -> dict:
    """One `python -m ingest --config CONFIG ...` as `launched` measures it."""
    return launched([sys.executable, "-m", "ingest", "--config", str(config), *args], work, said)


CHILDREN = {
    "fill": lambda a: fill_history(
        a["url"], a["n"], datetime.fromisoformat(a["now"]), a["seed"], a["due_share"]
    ),
    "counts": lambda a: database_counts(a["url"]),
    "inbox": lambda a: fill_inbox(Path(a["maildir"]), a["new"], a["seed"]),
}


def helper(kind: str, **args) -> dict | None:
    """Run one of CHILDREN in its own process; what it returned."""
    started = time.perf_counter()
    res = subprocess.run(
        [sys.executable, __file__, "--child", kind, json.dumps(args)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if res.returncode != 0:
        raise RuntimeError(f"{kind} failed ({res.returncode}):\n{res.stdout}{res.stderr}")
    found = json.loads(res.stdout.splitlines()[-1])
    if isinstance(found, dict) and kind == "fill":
        found["fill_s"] = time.perf_counter() - started
    return found


def run_one(
    database: str,
    n: int,
    new: int,
    due_share: float,
    repeat: int,
    base: Path,
    pg=None,
    skip: frozenset = frozenset(),
) -> dict:
    work = base / database
    work.mkdir()
    url = pg.create_database("gongdan") if pg else f"sqlite:///{work / 'gongdan.db'}"
    config = write_config(work, url)
    for sub in ("new", "cur", "tmp"):  # an empty Maildir outbox
        (work / "outbox" / sub).mkdir(parents=True)
    upgrade = timed_child(["db", "upgrade"], config, work)
    if upgrade["rc"] != 0:
        raise RuntimeError(f"db upgrade failed:\n{upgrade.get('stderr')}")
    history = helper("fill", url=url, n=n, now=NOW, seed=SEED, due_share=due_share)
    helper("inbox", maildir=str(work / "inbox"), new=new, seed=SEED + 1)
    if pg is None:
        history["db_mb"] = (work / "gongdan.db").stat().st_size / MB
    show = (n + 1) // 2
    baseline = min((timed_child(["--help"], config, work) for _ in range(3)), key=lambda r: r["s"])
    floor = launched(["/bin/true"], work)["mb"]  # the launcher's own memory: no figure is below
    results = {}
    before_poll = None
    for name, argv, target_s, target_mb, once in COMMANDS:
        if name in skip:
            continue
        argv = [a.replace("{K}", str(show)) for a in argv]
        if name == "poll":
            before_poll = helper("counts", url=url)
        runs = [timed_child(argv, config, work, once) for _ in range(1 if once else repeat)]
        best = min(runs, key=lambda r: r["s"])
        best.update(target_s=target_s, target_mb=target_mb)
        results[name] = best
    after = helper("counts", url=url)
    checks = {
        "poll_stored": after["messages_in"] - before_poll["messages_in"],
        "poll_new_tickets": after["tickets"] - before_poll["tickets"],
        "outbox_unsent_after": after["outbox_unsent"],
        "outbox_files": len(os.listdir(work / "outbox" / "new")),
        "inbox_left": len(os.listdir(work / "inbox" / "new")),
        "digest_html_bytes": (work / "digest.html").stat().st_size
        if (work / "digest.html").exists()
        else 0,
        "tickets_at_reads": after["tickets"],
        "show_ticket": show,
    }
    return {
        "database": database,
        "history": history,
        "baseline": baseline,
        "floor_mb": floor,
        "commands": results,
        "checks": checks,
    }


# --------------------------------------------------------------------------------------------
# The report


def _verdict(r: dict) -> str:
    over = []
    if r["rc"] != 0:
        return f"FAILED (exit {r['rc']})"
    if r["target_s"] is not None and r["s"] > r["target_s"]:
        over.append("time")
    if r["target_mb"] is not None and r["mb"] > r["target_mb"]:
        over.append("memory")
    if r["target_s"] is None and r["target_mb"] is None:
        return ""
    return "over: " + ", ".join(over) if over else "within"


def report(run: dict, n: int, new: int) -> None:
    h, b, c = run["history"], run["baseline"], run["checks"]
    print(
        f"\n{run['database']}: {n} tickets ({h['messages']} messages, {h['outbox']} outbox rows, "
        f"{h['events']} events, {h['stop_code_hits']} stop codes; filled in {h['fill_s']:.1f} s"
        + (f", {h['db_mb']:.0f} MB file" if "db_mb" in h else "")
        + f"), {h['due']} reminders due; poll of {new} new mails; T = {NOW}"
    )
    print(
        f"  statuses: {', '.join(f'{k} {v}' for k, v in sorted(h['statuses'].items()))}; "
        f"the launcher's own peak (no figure can be below it): {run['floor_mb']:.1f} MB"
    )
    print(
        f"  {'command':<20} {'wall s':>7} {'x':>6} {'cpu s':>6} {'x':>6} {'MB':>6} {'x':>5} "
        f"{'target (at 100,000)':>20} {'':<13} {'lines':>6}"
    )
    rows = [("start-up (--help)", {**b, "target_s": None, "target_mb": None})]
    for name, r in [*rows, *run["commands"].items()]:
        target = " ".join(
            x
            for x in (
                f"<= {r['target_s']:g} s" if r["target_s"] is not None else "",
                f"<= {r['target_mb']} MB" if r["target_mb"] is not None else "",
            )
            if x
        )
        print(
            f"  {name:<20} {r['s']:>7.2f} {r['s'] / b['s']:>6.1f} {r['cpu_s']:>6.2f} "
            f"{r['cpu_s'] / b['cpu_s']:>6.1f} {r['mb']:>6.1f} {r['mb'] / b['mb']:>5.1f} "
            f"{target:>20} {_verdict(r):<13} {r['lines']:>6}"
        )
    print(
        f"  checks: poll stored {c['poll_stored']} mails, {c['poll_new_tickets']} new tickets, "
        f"{c['inbox_left']} left in the inbox; {c['outbox_files']} mails in the Maildir outbox, "
        f"{c['outbox_unsent_after']} outbox rows not sent; digest.html "
        f"{c['digest_html_bytes']} bytes; the reads saw {c['tickets_at_reads']} tickets; "
        f"show {c['show_ticket']}"
    )
    for name in ("remind", "digest", "poll"):
        for line in run["commands"][name]["said"]:
            print(f"  {name} said: {line}")
    for name, r in run["commands"].items():
        if r["rc"] != 0:
            print(f"  {name} stderr:\n{r.get('stderr', '')}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, help="tickets in the history (required)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--new", type=int, default=1000, help="new mails for the poll")
    parser.add_argument(
        "--due-share",
        type=float,
        default=0.01,
        help="share of tickets whose reminder is due at T (default 0.01)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each read-only command (best kept)"
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=SKIPPABLE,
        help="a read-only command not to run (repeatable): at 1,000,000 tickets export takes "
        "over 20 minutes",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    if args.child:
        kind, child_args = args.child
        print(json.dumps(CHILDREN[kind](json.loads(child_args))))
        return 0
    if args.tickets is None:
        parser.error("--tickets is required")
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    sizes = (args.tickets, args.new, args.due_share, args.repeat)
    skip = frozenset(args.skip)

    from tests.servers import Postgres, short_tmpdir

    base = short_tmpdir("gd-hist-")
    runs = []
    try:
        for database in databases:
            if database == "sqlite":
                runs.append(run_one(database, *sizes, base, skip=skip))
                continue
            Postgres.check()
            pg = Postgres(base / "pg")
            pg.start()
            try:
                runs.append(run_one(database, *sizes, base, pg, skip))
            finally:
                pg.stop()
    finally:
        if args.keep:
            print(f"kept {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(
            json.dumps(
                {
                    "tickets": args.tickets,
                    "new": args.new,
                    "now": NOW,
                    "seed": SEED,
                    "python": sys.version.split()[0],
                    "runs": runs,
                },
                ensure_ascii=False,
            )
        )
        return 0
    print(
        f"gongdan history benchmark (Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}): whole processes; wall s, user+system cpu s and peak "
        "RSS (MB = 10^6 bytes), each with its ratio x to the start-up baseline; the targets "
        "are issue 22's, checked against wall s and MB"
    )
    for run in runs:
        report(run, args.tickets, args.new)
    failed = [name for run in runs for name, r in run["commands"].items() if r["rc"] != 0]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
