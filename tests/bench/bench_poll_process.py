"""Benchmark: `gongdan poll` as a whole process against the bare fetch + mail-parser process.

    python tests/bench/bench_poll_process.py                      # N = 1,000, 3 rounds
    python tests/bench/bench_poll_process.py --n 10000 --rounds 1 --parallel false

The servers and the mailbox are bench_poll.py's: a private Dovecot on 127.0.0.1 holding N
generated ticket emails (indexed and read once before timing) and an aiosmtpd sink. Each round
runs, one after the other, under `/usr/bin/time`:

  baseline  `python tests/bench/bench_poll.py --child baseline`: interpreter, imapclient and
            mail-parser imports, login, FETCH of all N in batches of 50, parse each;
  poll      `python -m ingest --config gongdan.toml poll --log-level WARNING` on a fresh SQLite
            database (`db upgrade` before, untimed): start-up, fetch, read, store, decide, queue,
            mark, remind, and every reply sent to the sink.

Both are whole processes: elapsed time includes interpreter start-up and imports. The ratio is
poll / baseline of the same round; peak RSS is the process's own (`%M`; the poll's forked
reader process is not in it). Target: ratio <= 2.0 (issue 12).
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
            results.append({"baseline": base, "poll": poll, "sent": sent, "ok": ok})
    finally:
        if smtp is not None:
            smtp.stop()
        if dovecot is not None:
            dovecot.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    for r in results:
        r["ratio"] = r["poll"]["s"] / r["baseline"]["s"]
        del r["baseline"]["stdout"], r["poll"]["stdout"]
    return {"n": n, "parallel": parallel, "roles": Counter(roles), "rounds": results}


def report(m: dict) -> None:
    print(
        f"N={m['n']}, [desk] parallel = {m['parallel'] or 'default'}; whole processes under "
        f"{TIME} (elapsed s, user+sys s, peak MiB)"
    )
    print(
        f"{'round':>5} {'base s':>7} {'poll s':>7} {'ratio':>6} {'base cpu':>9} "
        f"{'poll cpu':>9} {'base MiB':>9} {'poll MiB':>9} {'sent':>5}  check"
    )
    for i, r in enumerate(m["rounds"], 1):
        b, p = r["baseline"], r["poll"]
        print(
            f"{i:>5} {b['s']:>7.2f} {p['s']:>7.2f} {r['ratio']:>6.2f} {b['cpu_s']:>9.2f} "
            f"{p['cpu_s']:>9.2f} {b['peak_mib']:>9.1f} {p['peak_mib']:>9.1f} {r['sent']:>5}  "
            f"{'OK' if r['ok'] else 'FAILED'}"
        )
    ratios = [r["ratio"] for r in m["rounds"]]
    med = statistics.median(ratios)
    print(
        f"ratio poll/baseline: median {med:.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})"
        f"   target <= {RATIO_TARGET}: {'met' if med <= RATIO_TARGET else 'NOT met'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="messages (default 1000)")
    parser.add_argument("--rounds", type=int, default=3, help="baseline + poll rounds")
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
