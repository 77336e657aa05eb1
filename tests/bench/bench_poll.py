"""Benchmark: one `gongdan poll` over a real Dovecot mailbox, against bare IMAP fetch + mail-parser.

    python tests/bench/bench_poll.py                       # N = 1,000 and 10,000
    python tests/bench/bench_poll.py --n 2000 --json       # one size, figures as JSON
    python tests/bench/bench_poll.py --n 1000 --profile /tmp/poll   # also cProfile one extra poll

For each N it starts a private Dovecot (tests.servers.Dovecot) and an SMTP sink (aiosmtpd) on
127.0.0.1, writes N generated ticket emails (the generator of bench_parse.py, fixed seed) straight
into the user's Maildir `cur/` before Dovecot starts (far faster than N APPENDs, each of which
Dovecot fsyncs), then logs in once, checks SEARCH ALL finds all N and reads every message once,
so Dovecot's index and the page cache are equally warm for both timed runs. Then two children:

  baseline  imapclient: login, SELECT INBOX, SEARCH ALL, FETCH BODY.PEEK[] in batches of 50,
            mailparser.parse_from_bytes on each message: the bare limit of reading the mailbox;
  poll      the gongdan CLI in-process, exactly `python -m ingest --config gongdan.toml poll
            --log-level WARNING`: fetch, read, store in SQLite, decide, queue, mark, then send the
            replies over SMTP to the sink from the poll's own sending stage (`gongdan db upgrade`
            runs before, untimed). On a large poll it reads ahead in one helper process it forks
            (no process sends beside the poll, SPEC §9); its time is within "s".

Both children are measured the same way: "s" is timed inside the child from after its imports
(imapclient + mailparser, resp. ingest.cli.main, the poll command's module, the modules a poll
loads once it meets mail and what its reader builds on its first mail, all of which were imports
when issue 18 was filed) to the end of the work; "wall s" is the parent's wall clock around the
whole child, interpreter start-up and imports included. Peak memory is the child's own
ru_maxrss (getrusage RUSAGE_SELF, printed by the child; the parent's os.wait4 gives the same
figure); the peak of the poll's reader process (RUSAGE_CHILDREN) is printed below the table.
Afterwards it checks that the database holds N messages and that the sink got one reply per
queued reply; one poll sends at most one outbox batch, so any rest is drained by
further untimed polls and the total is checked against the generated mail too.

Targets: poll/baseline <= 2.0; peak memory of poll at the largest N <= 1.2 x at the smallest.
This file is a script, not a test: pytest collects only test_*.py files.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

SEED = 20261125
USER = "support"
PW_ENV = "GD_BENCH_IMAP_PW"
BATCH = 50
RATIO_TARGET = 2.0
MEMORY_TARGET = 1.2
MAX_DRAIN_POLLS = 50


# --------------------------------------------------------------------------------------------
# Children (run as `python bench_poll.py --child ...`); each prints one JSON line last.


def child_baseline(port: int) -> dict:
    import mailparser
    from imapclient import IMAPClient

    started = time.perf_counter()
    client = IMAPClient("127.0.0.1", port, ssl=False, timeout=60)
    client.login(USER, os.environ[PW_ENV])
    client.select_folder("INBOX")
    uids = client.search("ALL")
    count = failed = 0
    for start in range(0, len(uids), BATCH):
        chunk = uids[start : start + BATCH]
        got = client.fetch(chunk, ["BODY.PEEK[]"])
        for uid in chunk:
            raw = got[uid][b"BODY[]"]
            try:
                mailparser.parse_from_bytes(raw)
            except Exception:
                failed += 1
            count += 1
    client.logout()
    elapsed = time.perf_counter() - started
    return {
        "messages": count,
        "failed": failed,
        "seconds": elapsed,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


# The bare child's ack: a fixed text, no template and no fields (the poll writes its own).
BARE_FROM = "support@gongdan.example.cn"
BARE_ACK = (
    "您好，\n\n我们已收到您的工单邮件，售后工程师会尽快处理，如有进展将邮件告知。\n\n"
    "充电平台售后团队\n"
)
BARE_CONNECTIONS = 4  # the poll's default `[outgoing] connections`


def child_bare(port: int, smtp_port: int, db_path: str) -> dict:
    """The poll's job with nothing between: fetch, parse, store, ack, send, mark (issue 22).

    imapclient fetches in batches of 50 (BODY.PEEK[]); mailparser.parse_from_bytes reads each
    mail; plain sqlite3 inserts the message, ticket and outbox rows (and the reply's copy as an
    outgoing message, as the poll keeps it) into gongdan's own schema, one transaction per
    batch; STORE +FLAGS \\Seen marks the batch once it is committed, as the poll does without a
    processed folder. Every mail that is not automatic gets an EmailMessage ack (UTF-8,
    In-Reply-To and References set); the acks go out at the end, as the poll's send step does,
    split over four smtplib connections in four threads, and are marked sent in one transaction.
    """
    import hashlib
    import sqlite3
    import threading
    from datetime import UTC, datetime
    from email import policy
    from email.message import EmailMessage
    from email.utils import make_msgid

    import mailparser
    from imapclient import IMAPClient

    started = time.perf_counter()
    con = sqlite3.connect(db_path)
    # The poll's own SQLite settings (ingest/store/db.py); the file is already WAL after upgrade.
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA foreign_keys=ON")
    client = IMAPClient("127.0.0.1", port, ssl=False, timeout=60)
    client.login(USER, os.environ[PW_ENV])
    uidvalidity = int(client.select_folder("INBOX")[b"UIDVALIDITY"])
    uids = client.search("ALL")
    tickets: dict[str, int] = {}  # Message-ID -> ticket, so a reply to a stored mail joins it
    replies: list[tuple[int, str, bytes]] = []  # (outbox id, recipient, raw) to send at the end
    count = failed = 0
    for start in range(0, len(uids), BATCH):
        chunk = uids[start : start + BATCH]
        got = client.fetch(chunk, ["BODY.PEEK[]"])
        now = datetime.now(UTC).isoformat(" ")
        with con:  # one transaction per batch
            for uid in chunk:
                raw = bytes(got[uid][b"BODY[]"])
                count += 1
                try:
                    mail = mailparser.parse_from_bytes(raw)
                except Exception as exc:  # unreadable: stored with its error, not answered
                    failed += 1
                    con.execute(
                        "INSERT INTO message (message_id, in_reply_to, \"references\", "
                        "from_address, to_addresses, subject, text, raw, raw_sha256, size, "
                        "mailbox, uidvalidity, uid, direction, auto_submitted, flags, "
                        "parse_error, received_at) VALUES ('', '', '[]', '', '[]', '', '', ?, ?, "
                        "?, 'support', ?, ?, 'in', 0, '[]', ?, ?)",
                        (raw, hashlib.sha256(raw).hexdigest(), len(raw), uidvalidity, uid,
                         str(exc)[:200], now),
                    )  # fmt: skip
                    continue
                head = mail.message
                message_id = (mail.message_id or "").strip()
                sender = mail.from_[0][1].lower() if mail.from_ else ""
                in_reply_to = (head.get("In-Reply-To") or "").strip()
                references = (head.get("References") or "").split()
                auto = (head.get("Auto-Submitted") or "no").strip().lower() != "no" or (
                    "X-Autoreply" in head
                )
                ticket = next(
                    (tickets[m] for m in [in_reply_to, *references] if m in tickets), None
                )
                if ticket is None:
                    ticket = con.execute(
                        "INSERT INTO ticket (subject, template, status, operator_address, "
                        "missing, invalid, complete, created_at, updated_at) "
                        "VALUES (?, 'none', 'in_progress', ?, '[]', '{}', 0, ?, ?)",
                        (mail.subject, sender, now, now),
                    ).lastrowid
                if message_id:
                    tickets[message_id] = ticket
                date = mail.date.isoformat(" ") if mail.date else None
                stored = con.execute(
                    "INSERT INTO message (ticket_id, message_id, in_reply_to, \"references\", "
                    "from_address, to_addresses, subject, date, text, raw, raw_sha256, size, "
                    "mailbox, uidvalidity, uid, direction, auto_submitted, flags, received_at, "
                    "sent_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'support', ?, ?, 'in', "
                    "?, '[]', ?, ?)",
                    (ticket, message_id, in_reply_to, json.dumps(references), sender,
                     json.dumps([a for _, a in mail.to]), mail.subject, date, mail.body, raw,
                     hashlib.sha256(raw).hexdigest(), len(raw), uidvalidity, uid, auto, now,
                     date or now),
                ).lastrowid  # fmt: skip
                if auto or not sender:
                    continue
                ack = EmailMessage(policy=policy.SMTP)  # CRLF line ends, as sent
                ack["From"] = BARE_FROM
                ack["To"] = sender
                ack["Subject"] = f"Re: {mail.subject} [工单#{ticket}]"
                ack["Message-ID"] = reply_id = make_msgid(domain="gongdan.example.cn")
                ack["Date"] = datetime.now(UTC)
                ack["Auto-Submitted"] = "auto-replied"
                if message_id:
                    ack["In-Reply-To"] = message_id
                    ack["References"] = " ".join([*references, message_id])
                ack.set_content(BARE_ACK, charset="utf-8", cte="base64")  # as the poll
                ack_raw = ack.as_bytes()
                outbox = con.execute(
                    "INSERT INTO outbox (ticket_id, caused_by, kind, message_id, recipient, "
                    "to_addresses, raw, state, attempts, next_attempt_at, created_at) "
                    "VALUES (?, ?, 'ack', ?, ?, ?, ?, 'queued', 0, ?, ?)",
                    (ticket, stored, reply_id, sender, json.dumps([sender]), ack_raw, now, now),
                ).lastrowid
                con.execute(
                    "INSERT INTO message (ticket_id, message_id, in_reply_to, \"references\", "
                    "from_address, to_addresses, subject, date, text, raw, raw_sha256, size, "
                    "mailbox, direction, auto_submitted, flags, received_at, sent_at) "
                    "VALUES (?, ?, '', '[]', ?, ?, ?, ?, '', ?, ?, ?, '', 'out', 1, '[\"ack\"]', "
                    "?, ?)",
                    (ticket, reply_id, BARE_FROM, json.dumps([sender]), ack["Subject"], now,
                     ack_raw, hashlib.sha256(ack_raw).hexdigest(), len(ack_raw), now, now),
                )  # fmt: skip
                replies.append((outbox, sender, ack_raw))
        client.add_flags(chunk, [b"\\Seen"], silent=True)  # after the commit, as the poll
    client.logout()

    # Send: the replies split over four connections, one thread each.
    sent: list[int] = []
    errors: list[str] = []

    def send(share: list[tuple[int, str, bytes]]) -> None:
        import smtplib

        try:
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=60) as smtp:
                for outbox, recipient, raw in share:
                    smtp.sendmail(BARE_FROM, [recipient], raw)
                    sent.append(outbox)  # list.append is atomic under the GIL
        except Exception as exc:
            errors.append(repr(exc))

    threads = [
        threading.Thread(target=send, args=(replies[k::BARE_CONNECTIONS],))
        for k in range(BARE_CONNECTIONS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with con:
        con.executemany(
            "UPDATE outbox SET state = 'sent', attempts = 1, sent_at = ? WHERE id = ?",
            [(datetime.now(UTC).isoformat(" "), outbox) for outbox in sent],
        )
    con.close()
    elapsed = time.perf_counter() - started
    return {
        "messages": count,
        "failed": failed,
        "replies": len(replies),
        "sent": len(sent),
        "errors": errors[:3],
        "seconds": elapsed,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


WARM_UP = (
    "From: 运营商 <ops@xingxing.example.cn>\r\nTo: support@gongdan.example.cn\r\n"
    "Subject: =?gbk?b?s+S158q508O1w7vytfg=?=\r\nMessage-ID: <warm-up@xingxing.example.cn>\r\n"
    'Content-Type: text/plain; charset="utf-8"\r\n\r\n'
    "运营商：星星充电\r\n订单号：20261203091500778899\r\n停止原因：105\r\n"
)


def child_poll(config: str) -> dict:
    import ingest.cli.running  # noqa: F401  the poll command's module, loaded lazily by the CLI

    # ... and the modules a poll loads when it meets mail (a poll with none needs none of them,
    # issue 22), so that "s" times the same work as before they were loaded lazily: the
    # baseline's imports (imapclient, mailparser) are outside its "s" too.
    import ingest.desk.batch  # noqa: F401  reader, rules, store step, reply templates
    import ingest.desk.notices  # noqa: F401
    import ingest.sources.imap  # noqa: F401  imapclient, loaded when an IMAP mailbox is opened
    import ingest.sources.read_ahead  # noqa: F401
    import replies.engineer_notice  # noqa: F401
    import replies.smtp  # noqa: F401
    from ingest.cli.main import cli
    from ingest.reading.ticket import read_mail

    # ... and what the reader builds on its first mail (its label patterns, the stop-code tables,
    # the charsets' codecs), which it built on import until issue 22: one small ticket read here,
    # before the reader process is forked from this one.
    read_mail(WARM_UP.encode("utf-8"))
    started = time.perf_counter()
    # The same command line as `python -m ingest --config CONFIG poll --log-level WARNING`.
    cli.main(
        ["--config", config, "poll", "--log-level", "WARNING"],
        prog_name="gongdan",
        standalone_mode=False,
    )
    elapsed = time.perf_counter() - started
    sys.stdout.flush()
    # The reader process of a large poll has ended by now: its peak.
    return {
        "seconds": elapsed,
        "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "helpers_peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


# --------------------------------------------------------------------------------------------
# Parent


def corpus_with_roles(n: int, seed: int) -> tuple[list[bytes], list[str]]:
    """build_corpus(n, seed) of bench_parse.py, plus each email's role (new, reply, auto, ...)."""
    from bench_parse import build_corpus, build_email

    rng = random.Random(seed)
    raws, roles = [], []
    for i in range(n):  # the same loop as build_corpus, keeping the labels
        label, raw = build_email(rng, i)
        raws.append(raw)
        roles.append(label.split("+")[0].split("/")[1])
    assert raws[:5] == build_corpus(5, seed)[0], "bench_parse.build_corpus changed its loop"
    return raws, roles


def fill_maildir(dovecot, user: str, corpus: list[bytes]) -> None:
    """Write every email into the user's Maildir cur/ (Dovecot not yet running), owned by the
    mail uid."""
    maildir = dovecot.base / "mail" / user / "Maildir"
    for sub in ("cur", "new", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    base_time = 1_700_000_000
    for i, raw in enumerate(corpus):
        # Dovecot gives new files UIDs in file-name order: a rising time keeps the generated order.
        path = maildir / "cur" / f"{base_time + i}.M{i:06d}P1.gdbench,S={len(raw)}:2,"
        path.write_bytes(raw)
        os.chown(path, dovecot.mail_uid, dovecot.mail_gid)
    for path in [maildir, *(maildir / s for s in ("cur", "new", "tmp"))]:
        os.chown(path, dovecot.mail_uid, dovecot.mail_gid)


def warm_up(dovecot, user: str, n: int) -> None:
    """Let Dovecot index the Maildir and check it sees all N; read each message once (page
    cache)."""
    client = dovecot.client(user)
    try:
        client.select_folder("INBOX")
        uids = client.search("ALL")
        if len(uids) != n:
            raise RuntimeError(f"Dovecot sees {len(uids)} messages in INBOX, expected {n}")
        for start in range(0, len(uids), BATCH):
            client.fetch(uids[start : start + BATCH], ["BODY.PEEK[]"])
    finally:
        client.logout()


def run_measured(args: list[str], env: dict, work: Path, name: str) -> dict:
    """Run a child; its JSON (last stdout line) plus the parent's wall time and the child's
    rusage."""
    out, err = work / f"{name}.stdout", work / f"{name}.stderr"
    with out.open("wb") as fo, err.open("wb") as fe:
        started = time.perf_counter()
        proc = subprocess.Popen(
            args, env=env, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, cwd=work
        )
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # interrupted: the child must not outlive the servers it talks to
            proc.kill()
            proc.wait()
            raise
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
    text = out.read_text("utf-8", "replace")
    if proc.returncode != 0:
        raise RuntimeError(
            f"{name} child failed ({proc.returncode}):\n{text[-2000:]}\n"
            f"{err.read_text('utf-8', 'replace')[-3000:]}"
        )
    result = json.loads(text.strip().splitlines()[-1])
    result["wall_s"] = wall
    result["wait4_peak_mib"] = usage.ru_maxrss / 1024
    result["output"] = [line for line in text.strip().splitlines()[:-1] if line.strip()]
    return result


def write_config(work: Path, dovecot, smtp) -> Path:
    config = work / "gongdan.toml"
    config.write_text(
        f"""\
[database]
url = "sqlite:///{work}/gongdan.db"

[[mailbox]]
name = "support"
kind = "imap"
host = "127.0.0.1"
port = {dovecot.port}
security = "plain"
username = "{USER}"
password_env = "{PW_ENV}"
folder = "INBOX"

[outgoing]
kind = "smtp"
host = "127.0.0.1"
port = {smtp.port}
security = "plain"
from_address = "support@gongdan.example.cn"

[[engineer]]
name = "小明"
address = "xiaoming@gongdan.example.cn"

[desk]
daily_reply_limit = 1000000
""",
        "utf-8",
    )
    return config


def gongdan(config: Path, env: dict, *args: str) -> str:
    res = subprocess.run(
        [sys.executable, "-m", "ingest", "--config", str(config), *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=config.parent,
    )
    if res.returncode != 0:
        raise RuntimeError(
            f"gongdan {' '.join(args)} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}"
        )
    return res.stdout


def database_counts(db_path: Path) -> dict:
    """What the database holds; the reply bookkeeping is joined in Python (outbox.caused_by has no
    index)."""
    con = sqlite3.connect(db_path)
    try:
        one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
        states = Counter(dict(con.execute("SELECT state, count(*) FROM outbox GROUP BY state")))
        answered = {
            row[0]
            for row in con.execute("SELECT caused_by FROM outbox WHERE caused_by IS NOT NULL")
        }
        first = {
            row[0]
            for row in con.execute(
                "SELECT min(id) FROM message WHERE direction = 'in' GROUP BY ticket_id"
            )
        }
        unanswered_first = unanswered_follow_ups = 0
        for (message_id,) in con.execute(
            "SELECT id FROM message WHERE direction = 'in' AND NOT auto_submitted "
            "AND ticket_id IS NOT NULL"
        ):
            if message_id not in answered:
                if message_id in first:
                    unanswered_first += 1
                else:
                    unanswered_follow_ups += 1
        return {
            "messages_in": one("SELECT count(*) FROM message WHERE direction = 'in'"),
            "messages_out": one("SELECT count(*) FROM message WHERE direction = 'out'"),
            "tickets": one("SELECT count(*) FROM ticket"),
            "outbox": sum(states.values()),
            "outbox_sent": states["sent"],
            "outbox_queued": states["queued"],
            "outbox_other": sum(v for k, v in states.items() if k not in ("sent", "queued")),
            "unreadable": one(
                "SELECT count(*) FROM message WHERE parse_error IS NOT NULL AND parse_error != ''"
            ),
            "auto_in": one(
                "SELECT count(*) FROM message WHERE direction = 'in' AND auto_submitted"
            ),
            # Non-automatic incoming mail that got no reply, by whether it opened its ticket.
            "unanswered_first": unanswered_first,
            "unanswered_follow_ups": unanswered_follow_ups,
        }
    finally:
        con.close()


def outbox_queued(db_path: Path) -> int:
    con = sqlite3.connect(db_path)
    try:
        return con.execute("SELECT count(*) FROM outbox WHERE state = 'queued'").fetchone()[0]
    finally:
        con.close()


def measure(n: int, profile: str | None) -> dict:
    from tests.servers import Dovecot, SmtpSink, short_tmpdir

    Dovecot.check()
    SmtpSink.check()
    corpus, roles = corpus_with_roles(n, SEED)
    role_counts = Counter(roles)
    not_auto = n - role_counts["auto"]
    password = "pw-" + secrets.token_hex(8)
    env = {**os.environ, PW_ENV: password, "PYTHONHASHSEED": "0"}
    tmp = short_tmpdir("gd-bp-")
    dovecot = smtp = None
    try:
        dovecot = Dovecot(tmp / "dc")
        dovecot.add_user(USER, password)
        t0 = time.perf_counter()
        fill_maildir(dovecot, USER, corpus)
        dovecot.start()
        warm_up(dovecot, USER, n)
        load_s = time.perf_counter() - t0
        smtp = SmtpSink()
        smtp.start()
        work = tmp / "work"
        work.mkdir()
        del corpus

        base = run_measured(
            [sys.executable, __file__, "--child", "baseline", "--port", str(dovecot.port)],
            env,
            work,
            "baseline",
        )
        if base["messages"] != n:
            raise RuntimeError(f"baseline fetched {base['messages']} messages, expected {n}")

        config = write_config(work, dovecot, smtp)
        gongdan(config, env, "db", "upgrade")
        poll = run_measured(
            [sys.executable, __file__, "--child", "poll", "--config", str(config)],
            env,
            work,
            "poll",
        )
        after_one = database_counts(work / "gongdan.db")
        sent_by_one = len(smtp.messages)

        # Untimed: drain what one cycle left queued, then check the totals.
        drain_polls, started = 0, time.perf_counter()
        while outbox_queued(work / "gongdan.db") and drain_polls < MAX_DRAIN_POLLS:
            gongdan(config, env, "poll", "--log-level", "WARNING")
            drain_polls += 1
        drain_s = time.perf_counter() - started
        final = database_counts(work / "gongdan.db")
        received = len(smtp.messages)
        expected = not_auto - final["unanswered_follow_ups"]
        checks = {
            "stored_all": after_one["messages_in"] == n,
            "auto_detected": final["auto_in"] == role_counts["auto"],
            "every_new_ticket_answered": final["unanswered_first"] == 0,
            "one_poll_sent_all_queued": sent_by_one == after_one["outbox"],
            "sink_matches_outbox": received == final["outbox"] == final["outbox_sent"],
            "replies_as_expected": received == expected,
        }

        profile_path = None
        if profile:
            # An extra, untimed-for-the-table poll of the same mailbox into a fresh database.
            pwork = tmp / "prof"
            pwork.mkdir()
            pconfig = write_config(pwork, dovecot, smtp)
            gongdan(pconfig, env, "db", "upgrade")
            profile_path = f"{profile}.{n}.prof"
            started = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "cProfile",
                    "-o",
                    profile_path,
                    "-m",
                    "ingest",
                    "--config",
                    str(pconfig),
                    "poll",
                    "--log-level",
                    "WARNING",
                ],
                env=env,
                check=True,
                cwd=pwork,
                capture_output=True,
            )
            profile_s = time.perf_counter() - started
    finally:
        if smtp is not None:
            smtp.stop()
        if dovecot is not None:
            dovecot.cleanup()  # kills the whole process group, removes its folder
        shutil.rmtree(tmp, ignore_errors=True)

    result = {
        "n": n,
        "load_s": load_s,
        "baseline_s": base["seconds"],
        "baseline_wall_s": base["wall_s"],
        "baseline_peak_mib": base["peak_mib"],
        "baseline_wait4_peak_mib": base["wait4_peak_mib"],
        "poll_s": poll["seconds"],
        "poll_wall_s": poll["wall_s"],
        "poll_peak_mib": poll["peak_mib"],
        "poll_helpers_peak_mib": poll.get("helpers_peak_mib", 0.0),
        "poll_wait4_peak_mib": poll["wait4_peak_mib"],
        "ratio": poll["seconds"] / base["seconds"],
        "ratio_wall": poll["wall_s"] / base["wall_s"],
        "poll_per_s": n / poll["seconds"],
        "baseline_per_s": n / base["seconds"],
        "poll_output": poll["output"],
        "roles": dict(sorted(role_counts.items())),
        "not_automatic": not_auto,
        "after_one_poll": after_one,
        "sent_by_one_poll": sent_by_one,
        "drain_polls": drain_polls,
        "drain_wall_s": drain_s,
        "final": final,
        "received_total": received,
        "expected_replies": expected,
        "checks": checks,
    }
    if profile_path:
        result["profile"] = profile_path
        result["profile_wall_s"] = profile_s
    return result


def report(results: list[dict]) -> None:
    import platform

    print(
        f"gongdan poll benchmark (Python {platform.python_version()}, "
        "Dovecot + aiosmtpd on 127.0.0.1, "
        f"SQLite, seed {SEED})"
    )
    print(
        "s = timed inside each child from after its imports to the end of its work; "
        "wall s = parent's clock around the child,\n"
        "  interpreter start-up and imports included. "
        "MiB = the child's peak RSS (ru_maxrss). Ratio uses s."
    )
    print()
    print(
        f"{'N':>7} {'base s':>8} {'poll s':>8} {'ratio':>6} {'poll msg/s':>10} "
        f"{'base MiB':>9} {'poll MiB':>9}"
        f"   {'base wall s':>11} {'poll wall s':>11} {'wall ratio':>10}"
    )
    for r in results:
        print(
            f"{r['n']:>7} {r['baseline_s']:>8.2f} {r['poll_s']:>8.2f} {r['ratio']:>6.2f} "
            f"{r['poll_per_s']:>10.0f} "
            f"{r['baseline_peak_mib']:>9.1f} {r['poll_peak_mib']:>9.1f}   "
            f"{r['baseline_wall_s']:>11.2f} "
            f"{r['poll_wall_s']:>11.2f} {r['ratio_wall']:>10.2f}"
        )
    print()
    worst = max(r["ratio"] for r in results)
    ratios = ", ".join(f"{r['ratio']:.2f} at N={r['n']}" for r in results)
    print(
        f"ratio poll/baseline: {ratios}   target <= {RATIO_TARGET}: "
        f"{'met' if worst <= RATIO_TARGET else 'NOT met'}"
    )
    if len(results) >= 2:
        lo, hi = results[0], results[-1]
        growth = hi["poll_peak_mib"] / lo["poll_peak_mib"]
        print(
            f"peak memory of poll: {lo['poll_peak_mib']:.1f} MiB at N={lo['n']} -> "
            f"{hi['poll_peak_mib']:.1f} MiB "
            f"at N={hi['n']}: x{growth:.2f}   target <= {MEMORY_TARGET}: "
            f"{'met' if growth <= MEMORY_TARGET else 'NOT met'}"
        )
    for r in results:
        a, f = r["after_one_poll"], r["final"]
        print()
        print(
            f"N={r['n']}: peak memory of the poll's reader process "
            "(forked, so much of "
            f"it shared with the poll): {r['poll_helpers_peak_mib']:.1f} MiB"
        )
        print(
            f"  mailbox loaded and indexed in {r['load_s']:.1f} s; generated roles: "
            + ", ".join(f"{k} {v}" for k, v in r["roles"].items())
        )
        print(f"  poll said: {' | '.join(r['poll_output']) or '(nothing)'}")
        print(
            f"  after the timed poll: {a['messages_in']} messages stored (of {r['n']}), "
            f"{a['tickets']} tickets, "
            f"{a['outbox']} replies queued, {r['sent_by_one_poll']} received by the SMTP sink, "
            f"{a['outbox_queued']} still queued"
        )
        print(
            f"  after {r['drain_polls']} more untimed poll(s) ({r['drain_wall_s']:.1f} s wall): "
            f"sink received {r['received_total']}, outbox "
            f"{f['outbox_sent']} sent / {f['outbox_queued']} queued / {f['outbox_other']} other"
        )
        print(
            f"  expected replies: {r['not_automatic']} non-automatic emails - "
            f"{f['unanswered_follow_ups']} "
            "follow-ups that changed nothing needing an answer (SPEC §6) = "
            f"{r['expected_replies']}; "
            f"auto-replies recognised {f['auto_in']} of {r['roles'].get('auto', 0)}; "
            f"new tickets left unanswered {f['unanswered_first']}"
        )
        for name, ok in r["checks"].items():
            print(f"  check {name:<28} {'OK' if ok else 'FAILED'}")
        if "profile" in r:
            print(
                f"  cProfile of an extra poll (fresh database): {r['profile']} "
                f"({r['profile_wall_s']:.1f} s wall)"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, action="append", help="messages (repeatable; default 1000 and 10000)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--profile",
        metavar="PREFIX",
        help="also run one extra poll under cProfile into PREFIX.N.prof (not in the table)",
    )
    parser.add_argument("--child", choices=["baseline", "poll", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--smtp-port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "baseline":
        print(json.dumps(child_baseline(args.port)))
        return 0
    if args.child == "bare":
        print(json.dumps(child_bare(args.port, args.smtp_port, args.db)))
        return 0
    if args.child == "poll":
        print(json.dumps(child_poll(args.config)))
        return 0
    sizes = args.n or [1000, 10000]
    # A plain `kill` must still stop Dovecot and remove the temporary folders (the finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = [measure(n, args.profile) for n in sizes]
    if args.json:
        print(json.dumps(results, ensure_ascii=False))
    else:
        report(results)
    return 0 if all(all(r["checks"].values()) for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
