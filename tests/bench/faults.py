"""Fault suite: `gongdan poll` against a real Dovecot, aiosmtpd and PostgreSQL on loopback while
things break (IMAP cut, SMTP refusing, down or timing out, the database restarted or locked, the
poll SIGKILLed, two workers at once), then a checker compares mailbox, database and SMTP server.

    python tests/bench/faults.py                 # full mode (20 cycles/runs where it applies)
    python tests/bench/faults.py --short         # a few seconds per scenario (what pytest runs)
    python tests/bench/faults.py --json          # one JSON object per scenario instead of the table
    python tests/bench/faults.py --seed 7 --only sigkill     # replay one scenario

One line per scenario: runs, messages, lost, duplicated, replies doubled (two different replies
to one email; the same reply twice after an interrupted hand-over is allowed, SPEC §9, and noted
as `resent_copies`), replies lost (a stored email whose reply never arrived), then notes. The
target is all zeros; the exit status is 1 when any of those counts is not. The scenarios and the
checker live in tests/faults.py. This file is a script, not a test: tests/test_faults.py runs the
short mode.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests import faults  # noqa: E402
from tests.servers import Dovecot, Postgres, SmtpSink, short_tmpdir  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="the short mode pytest runs")
    parser.add_argument("--json", action="store_true", help="one JSON object per scenario")
    parser.add_argument(
        "--seed", type=int, default=None, help="replay a run (default: a random seed, printed)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(faults.SCENARIOS),
        metavar="SCENARIO",
        help="run only this scenario (repeatable): " + ", ".join(faults.SCENARIOS),
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the work folder (configs, child logs)"
    )
    args = parser.parse_args(argv)
    size = "short" if args.short else "full"
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    names = args.only or list(faults.SCENARIOS)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter
    print(
        f"# gongdan fault suite: mode={size} seed={seed} (replay: --seed {seed}"
        f"{' --short' if args.short else ''})",
        file=sys.stderr if args.json else sys.stdout,
        flush=True,
    )

    for server in (Dovecot, Postgres, SmtpSink):
        server.check()
    work = short_tmpdir("gd-faults-")
    dovecot, postgres, smtp = Dovecot(work / "dc"), Postgres(work / "pg"), SmtpSink()
    rows = []
    started = time.monotonic()
    try:
        dovecot.start()
        postgres.start()
        smtp.start()
        servers = faults.Servers(dovecot, postgres, smtp)
        for name in names:
            try:
                row = faults.run_scenario(name, servers, work / "desks", size, seed)
            except (
                Exception
            ) as exc:  # a scenario that cannot run is a failure, not a crash of the suite
                row = {
                    "scenario": name,
                    "runs": 0,
                    "messages": 0,
                    "lost": 0,
                    "duplicated": 0,
                    "replies_doubled": 0,
                    "replies_lost": 0,
                    "seconds": 0,
                    "notes": f"SCENARIO ERROR {type(exc).__name__}: {exc}",
                    "error": True,
                }
            rows.append(row)
            if args.json:
                print(
                    json.dumps({**row, "seed": seed, "mode": size}, ensure_ascii=False), flush=True
                )
            else:
                print(f"  {name}: {row['seconds']} s", file=sys.stderr, flush=True)
    finally:
        smtp.stop()
        postgres.cleanup()
        dovecot.cleanup()
        if args.keep:
            print(f"# work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    if not args.json:
        print(faults.format_table(rows))
        print(f"# total {time.monotonic() - started:.1f} s, seed {seed}")
    bad = [r["scenario"] for r in rows if faults.failures(r) or r.get("error")]
    if bad:
        print(f"# NOT all zeros: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
