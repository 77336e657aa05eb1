"""Benchmark: `gongdan poll` as a whole process against bare fetch + parse and the bare job.

    python tests/bench/bench_poll_process.py                      # N = 1,000, 3 rounds
    python tests/bench/bench_poll_process.py --n 10000 --rounds 1 --parallel false

The servers and the mailbox are bench_poll.py's: a private Dovecot on 127.0.0.1 holding N
generated ticket emails (indexed and read once before timing) and an aiosmtpd sink. Each round
runs, one after the other, under `/usr/bin/time`:

  baseline  `python tests/bench/bench_poll.py --child baseline`: interpreter, imapclient and
            mail-parser imports, login, FETCH of all N in batches of 50, parse each;
  poll      `python -m ingest --config gongdan.toml poll --log-level WARNING` on a fresh SQLite
            database (`db upgrade` before, untimed): start-up, fetch, read, store, decide, queue,
            mark, remind, and every reply sent to the sink;
  bare      `python tests/bench/bench_poll.py --child bare` on its own fresh database (`db
            upgrade` before, untimed, as for the poll): the poll's job with nothing between:
            fetch in batches of 50, mail-parser, plain sqlite3 inserts of the message, ticket and
            outbox rows into gongdan's schema (one transaction a batch), STORE +FLAGS \\Seen a
            batch, an EmailMessage ack per non-automatic mail sent over four smtplib connections.

Every child is a whole process: elapsed time includes interpreter start-up and imports. Before
each child, untimed, every message in the mailbox is made unseen again (the poll and bare mark
them \\Seen; without a processed folder nothing moves), so each child of each round starts from
the same mailbox; the poll and bare each get a fresh database, and the poll picks its mail by
UID above its database's last stored one, so it reads all N each round. Afterwards each round
checks that the poll and bare stored N messages, marked all N seen, and that the sink received
every reply each one sent. The ratios are poll / baseline and poll / bare of the same round;
peak RSS is the process's own (`%M`; the poll's forked reader process is not in it). Targets:
poll / baseline <= 2.0 (issue 12), poll / bare <= 1.5 (issue 22).
This file is a script, not a test: pytest collects only test_*.py files.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))

from bench_poll import (  # noqa: E402
    PW_ENV,
    RATIO_TARGET,
    SEED,
    USER,
    corpus_with_roles,
    database_counts,
    fill_maildir,
    gongdan,
    warm_up,
    write_config,
)

TIME = "/usr/bin/time"
BARE_TARGET = 1.5  # issue 22: the poll stays within 1.5x the nothing-between script


def unseen_all(dovecot) -> None:
    """Make every message in INBOX unseen again: the state each child starts from."""
    client = dovecot.client(USER)
    try:
        client.select_folder("INBOX")
        client.remove_flags(client.search("ALL"), [b"\\Seen"], silent=True)
    finally:
        client.logout()


def seen_count(dovecot) -> int:
    """How many messages in INBOX a child left marked \\Seen."""
    client = dovecot.client(USER)
    try:
        client.select_folder("INBOX", readonly=True)
        return len(client.search("SEEN"))
    finally:
        client.logout()


def timed(args: list[str], env: dict, work: Path, name: str) -> dict:
    """Run args under /usr/bin/time in work; its elapsed s, user + system s and peak MiB."""
    times = work / f"{name}.time"
    res = subprocess.run(
        [TIME, "-o", str(times), "-f", "%e %U %S %M", *args],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    if res.returncode != 0:
        raise RuntimeError(f"{name} failed ({res.returncode}):\n{res.stdout}\n{res.stderr}")
    elapsed, user, system, peak_kib = times.read_text().split()[-4:]
    return {
        "s": float(elapsed),
        "cpu_s": float(user) + float(system),
        "peak_mib": int(peak_kib) / 1024,
        "stdout": res.stdout,
    }


def measure(n: int, rounds: int, parallel: str | None) -> dict:
    from tests.servers import Dovecot, SmtpSink, short_tmpdir

    Dovecot.check()
    SmtpSink.check()
    corpus, roles = corpus_with_roles(n, SEED)
    password = "pw-" + secrets.token_hex(8)
    env = {**os.environ, PW_ENV: password, "PYTHONHASHSEED": "0"}
    tmp = short_tmpdir("gd-bpp-")
    dovecot = smtp = None
    results = []
    try:
        dovecot = Dovecot(tmp / "dc")
        dovecot.add_user(USER, password)
        fill_maildir(dovecot, USER, corpus)
        dovecot.start()
        warm_up(dovecot, USER, n)
        del corpus
        smtp = SmtpSink()
        smtp.start()
        for r in range(rounds):
            work = tmp / f"round{r}"
            work.mkdir()
            unseen_all(dovecot)
            base = timed(
                [sys.executable, str(HERE / "bench_poll.py"), "--child", "baseline"]
                + ["--port", str(dovecot.port)],
                env,
                work,
                "baseline",
            )
            assert json.loads(base["stdout"].splitlines()[-1])["messages"] == n
            config = write_config(work, dovecot, smtp)
            if parallel is not None:
                with config.open("a") as f:
                    f.write(f"parallel = {parallel}\n")  # [desk] is the last table
            gongdan(config, env, "db", "upgrade")
            unseen_all(dovecot)
            smtp.clear()
            poll = timed(
                [sys.executable, "-m", "ingest", "--config", str(config), "poll"]
                + ["--log-level", "WARNING"],
                env,
                work,
                "poll",
            )
            counts = database_counts(work / "gongdan.db")
            sent = len(smtp.messages)
            ok = counts["messages_in"] == n and sent == counts["outbox_sent"] == counts["outbox"]
            ok = ok and seen_count(dovecot) == n

            # bare: its own fresh database made the same way, the same fresh mailbox and sink.
            bare_work = work / "bare"
            bare_work.mkdir()
            gongdan(write_config(bare_work, dovecot, smtp), env, "db", "upgrade")
            unseen_all(dovecot)
            smtp.clear()
            bare = timed(
                [sys.executable, str(HERE / "bench_poll.py"), "--child", "bare"]
                + ["--port", str(dovecot.port), "--smtp-port", str(smtp.port)]
                + ["--db", str(bare_work / "gongdan.db")],
                env,
                bare_work,
                "bare",
            )
            said = json.loads(bare["stdout"].splitlines()[-1])
            stored = database_counts(bare_work / "gongdan.db")
            bare_sent = len(smtp.messages)
            bare_ok = (
                said["messages"] == stored["messages_in"] == n
                and said["replies"] == said["sent"] == bare_sent
                and bare_sent == stored["outbox_sent"] == stored["outbox"]
                and seen_count(dovecot) == n
            )
            if said["errors"]:
                print(f"bare round {r + 1}: SMTP errors {said['errors']}", file=sys.stderr)
            results.append(
                {
                    "baseline": base,
                    "poll": poll,
                    "bare": bare,
                    "sent": sent,
                    "bare_sent": bare_sent,
                    "ok": ok and bare_ok,
                }
            )
    finally:
        if smtp is not None:
            smtp.stop()
        if dovecot is not None:
            dovecot.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    for r in results:
        r["ratio"] = r["poll"]["s"] / r["baseline"]["s"]
        r["ratio_bare"] = r["poll"]["s"] / r["bare"]["s"]
        del r["baseline"]["stdout"], r["poll"]["stdout"], r["bare"]["stdout"]
    return {"n": n, "parallel": parallel, "roles": Counter(roles), "rounds": results}


def report(m: dict) -> None:
    print(
        f"N={m['n']}, [desk] parallel = {m['parallel'] or 'default'}; whole processes under "
        f"{TIME} (elapsed s, user+sys s, peak MiB)"
    )
    print(
        f"{'round':>5} {'base s':>7} {'bare s':>7} {'poll s':>7} {'p/base':>6} {'p/bare':>6} "
        f"{'base cpu':>9} {'bare cpu':>9} {'poll cpu':>9} {'base MiB':>9} {'bare MiB':>9} "
        f"{'poll MiB':>9} {'sent':>5} {'bare sent':>9}  check"
    )
    for i, r in enumerate(m["rounds"], 1):
        b, p, z = r["baseline"], r["poll"], r["bare"]
        print(
            f"{i:>5} {b['s']:>7.2f} {z['s']:>7.2f} {p['s']:>7.2f} {r['ratio']:>6.2f} "
            f"{r['ratio_bare']:>6.2f} {b['cpu_s']:>9.2f} {z['cpu_s']:>9.2f} {p['cpu_s']:>9.2f} "
            f"{b['peak_mib']:>9.1f} {z['peak_mib']:>9.1f} {p['peak_mib']:>9.1f} "
            f"{r['sent']:>5} {r['bare_sent']:>9}  {'OK' if r['ok'] else 'FAILED'}"
        )
    for key, name, target in (
        ("ratio", "poll/baseline", RATIO_TARGET),
        ("ratio_bare", "poll/bare", BARE_TARGET),
    ):
        ratios = [r[key] for r in m["rounds"]]
        med = statistics.median(ratios)
        print(
            f"ratio {name}: median {med:.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})"
            f"   target {name} <= {target}: {'met' if med <= target else 'NOT met'}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="messages (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="baseline + poll + bare rounds")
    parser.add_argument(
        "--parallel", choices=["true", "false"], help="set [desk] parallel (default: unset)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    m = measure(args.n, args.rounds, args.parallel)
    print(json.dumps(m)) if args.json else report(m)
    return 0 if all(r["ok"] for r in m["rounds"]) else 1


if __name__ == "__main__":
    sys.exit(main())
