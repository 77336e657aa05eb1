"""Benchmark: `gongdan import` of a generated Maildir into SQLite, against reading alone.

    python tests/bench/bench_import.py            # N = 2,000 and 20,000
    python tests/bench/bench_import.py --n 2000   # one size
    python tests/bench/bench_import.py --n 2000 --n 20000 --database postgresql

For each N it writes N generated ticket emails (the generator of bench_parse.py) into a Maildir,
then runs two child processes on the same Maildir: one only reads every message as a ticket
(`read_ticket`), one imports them into a fresh database (reading, threading, storing,
batches of 100 emails per transaction; as `gongdan import` does on more than one core, the next
batch is read in a helper process while one is stored). It prints both times, messages per
second, the ratio import/read, and each child's own peak memory (VmHWM; the import's reader
process is not in it). Targets: ratio <= 1.5; and, issue 22's, from 2,000 to 20,000 (the default
sizes) the rate within 25% and the peak memory within 1.3x.
The database is a SQLite file (--database sqlite, the default), or a fresh database on a
throwaway PostgreSQL cluster on 127.0.0.1 (--database postgresql: tests.servers.Postgres, as
bench_history.py starts it), or each in turn (both).
"""

from __future__ import annotations

import argparse
import json
import mailbox
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))


def make_maildir(path: Path, n: int) -> None:
    from bench_parse import build_corpus

    corpus, _ = build_corpus(n, seed=20261125)
    box = mailbox.Maildir(path, create=True)
    for raw in corpus:
        box.add(raw)


def child(mode: str, maildir: str, work: str, url: str | None = None) -> dict:
    from ingest.config import Config
    from ingest.desk.importer import import_paths, sources
    from ingest.reading.ticket import read_ticket
    from ingest.store import db

    started = time.perf_counter()
    if mode == "read":
        count = 0
        for _, read in sources([maildir]):
            try:
                read_ticket(read())
            except Exception:
                pass
            count += 1
    else:
        url = url or f"sqlite:///{work}/bench.db"
        db.upgrade(url)
        engine = db.open_database(url)
        started = time.perf_counter()  # the schema is not part of the import
        count = import_paths(engine, [maildir], Config(), datetime.now(UTC))["total"]
        engine.dispose()
    elapsed = time.perf_counter() - started
    return {"mode": mode, "messages": count, "seconds": elapsed, "peak_mib": own_peak_kib() / 1024}


def own_peak_kib() -> int:
    """This process's peak resident memory. Linux carries a parent's peak into a child it
    starts (ru_maxrss survives exec), and this benchmark's parent holds the whole generated
    corpus: 106 MiB at 20,000 mails, more than an import. VmHWM is the child's own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_child(mode: str, maildir: Path, work: Path, url: str | None = None) -> dict:
    database = ["--url", url] if url else []
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--maildir",
            str(maildir),
            "--work",
            str(work),
            *database,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(n: int, pg=None) -> dict:
    """N messages read, then imported into a fresh database: SQLite, or one on `pg`."""
    with tempfile.TemporaryDirectory(prefix="gd-bench-") as tmp:
        maildir = Path(tmp) / "inbox"
        make_maildir(maildir, n)
        read = run_child("read", maildir, Path(tmp))
        url = pg.create_database(f"import{n}") if pg else None
        stored = run_child("import", maildir, Path(tmp), url)
    return {
        "database": "postgresql" if pg else "sqlite",
        "n": n,
        "read_s": read["seconds"],
        "import_s": stored["seconds"],
        "read_per_s": n / read["seconds"],
        "import_per_s": n / stored["seconds"],
        "ratio": stored["seconds"] / read["seconds"],
        "read_peak_mib": read["peak_mib"],
        "import_peak_mib": stored["peak_mib"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, action="append", help="messages (repeatable; default 1000 and 10000)"
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--child", choices=["read", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--maildir", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.maildir, args.work, args.url)))
        return 0
    sizes = args.n or [2000, 20000]
    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    results = []
    for database in databases:
        if database == "sqlite":
            results += [measure(n) for n in sizes]
        else:
            results += measure_postgresql(sizes)
    if args.json:
        print(json.dumps(results))
        return 0
    print(
        f"gongdan import benchmark (Python {sys.version.split()[0]},"
        " batches of 100 emails per transaction)"
    )
    for database in databases:
        report([r for r in results if r["database"] == database])
    print(
        "import/read ratio target <= 1.5: "
        f"{'met' if all(r['ratio'] <= 1.5 for r in results) else 'NOT met'}"
    )
    return 0


def measure_postgresql(sizes: list[int]) -> list[dict]:
    """Each size imported into its own database of one throwaway PostgreSQL cluster."""
    from tests.servers import Postgres, short_tmpdir

    Postgres.check()
    base = short_tmpdir("gd-imp-")
    pg = Postgres(base / "pg")
    pg.start()
    try:
        return [measure(n, pg) for n in sizes]
    finally:
        pg.stop()
        shutil.rmtree(base, ignore_errors=True)


def report(results: list[dict]) -> None:
    print(
        f"{results[0]['database']}:\n"
        f"{'N':>7} {'read s':>8} {'import s':>9} {'read/s':>8} {'import/s':>9} {'ratio':>6} "
        f"{'read MiB':>9} {'import MiB':>11}"
    )
    for r in results:
        print(
            f"{r['n']:>7} {r['read_s']:>8.2f} {r['import_s']:>9.2f} {r['read_per_s']:>8.0f} "
            f"{r['import_per_s']:>9.0f} {r['ratio']:>6.2f} {r['read_peak_mib']:>9.1f} "
            f"{r['import_peak_mib']:>11.1f}"
        )
    if len(results) >= 2:
        first, last = results[0], results[-1]
        growth = last["import_peak_mib"] / first["import_peak_mib"]
        rate = last["import_per_s"] / first["import_per_s"]
        print(
            f"import at N={last['n']} / at N={first['n']}: peak memory {growth:.2f} "
            f"(target <= 1.3), rate {rate:.2f} (target 0.75 to 1.25)"
        )


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
